-- flashsale PostgreSQL schema: sales, orders and the persist checkpoints (idempotent).
--
-- Applied by flashsale-persist at every start (embedded as fs_schema_sql, sent as one PQexec:
-- one transaction), so every statement must be safe to run again on a database that already has
-- it, or an older version of it (the ALTER ... IF NOT EXISTS and DO blocks below migrate those).
-- By hand: psql -1 -f persist/schema.sql (one transaction too).

-- Several nodes' persists may start at once: one applies the schema at a time (the lock is held
-- until this transaction ends). The key is arbitrary and only has to be the same everywhere.
SELECT pg_advisory_xact_lock(7370221102510911);

-- One row per sale ever defined on any node (upserted from the control journals).
CREATE TABLE IF NOT EXISTS sales (
	sale_id bigint PRIMARY KEY,
	stock bigint NOT NULL,           -- whole stock of the sale, all nodes together
	starts_at timestamptz NOT NULL,  -- inclusive
	ends_at timestamptz NOT NULL,    -- exclusive; moved earlier when an operator stops the sale
	admission text NOT NULL CHECK (admission IN ('open', 'token')),
	created_at timestamptz NOT NULL DEFAULT now(),
	-- ms a won order is held for payment (the HOLD journal record); 0: no holds, WON is final
	hold_ms bigint NOT NULL DEFAULT 0 CHECK (hold_ms BETWEEN 0 AND 604800000)
);
ALTER TABLE sales ADD COLUMN IF NOT EXISTS
	hold_ms bigint NOT NULL DEFAULT 0 CHECK (hold_ms BETWEEN 0 AND 604800000);

-- One row per WON reply (one ORDER record of a worker journal).
--
-- order_id: the dataplane's order ids are u64; they are stored as the bigint with the same 64 bits
-- (the u64 cast to int64), so ids >= 2^63 read as negative numbers here. Convert back with
-- (order_id::numeric + 18446744073709551616) % 18446744073709551616 when a reader needs the u64.
--
-- user_id: numeric(20,0) holds every u64 exactly and reads as the user id the client sent
-- (no bit reinterpretation), at the cost of a few bytes per row.
--
-- status: 'sold' for an order of a sale without holds (final when won); on a sale with holds
-- 'held' from the WON until hold_until (won_at + sales.hold_ms, the dataplane's clock), then
-- exactly one of 'paid', 'cancelled' (both before hold_until, by PostgreSQL's clock) or 'expired'
-- (the sweep, at or after hold_until), with settled_at the time of that outcome. Only the
-- flashsale.* functions below move a row out of 'held', each with one conditional UPDATE.
CREATE TABLE IF NOT EXISTS orders (
	sale_id bigint NOT NULL,
	order_id bigint NOT NULL,
	user_id numeric(20, 0) NOT NULL,
	node_id int NOT NULL,
	won_at timestamptz NOT NULL,
	status text NOT NULL DEFAULT 'sold',
	hold_until timestamptz,  -- NULL on sales without holds
	settled_at timestamptz,  -- when paid, cancelled or expired; NULL while held, and for 'sold'
	PRIMARY KEY (sale_id, order_id),
	UNIQUE (sale_id, user_id),
	CONSTRAINT orders_status_check
		CHECK (status IN ('held', 'paid', 'expired', 'cancelled', 'sold')),
	CONSTRAINT orders_held_until_check CHECK (status <> 'held' OR hold_until IS NOT NULL)
);

-- Databases made before holds: the new columns, 'sold' in the status check, the default 'sold'
-- (an INSERT that names no status is an order of a sale without holds), and, once, their rows:
-- every 'held' row of such a database is an order of a sale without holds (no sale had a hold
-- time), so it becomes 'sold'. That migration runs when orders_held_until_check is missing and
-- adds it, so it never runs twice, and no 'held' row without hold_until can appear after it.
ALTER TABLE orders ADD COLUMN IF NOT EXISTS hold_until timestamptz;
ALTER TABLE orders ADD COLUMN IF NOT EXISTS settled_at timestamptz;
ALTER TABLE orders ALTER COLUMN status SET DEFAULT 'sold';
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'orders'::regclass
			AND conname = 'orders_status_check'
			AND pg_get_constraintdef(oid) LIKE '%''sold''%') THEN
		ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_status_check;
		ALTER TABLE orders ADD CONSTRAINT orders_status_check
			CHECK (status IN ('held', 'paid', 'expired', 'cancelled', 'sold'));
	END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = 'orders'::regclass
			AND conname = 'orders_held_until_check') THEN
		UPDATE orders SET status = 'sold' WHERE status = 'held' AND hold_until IS NULL;
		ALTER TABLE orders ADD CONSTRAINT orders_held_until_check
			CHECK (status <> 'held' OR hold_until IS NOT NULL);
	END IF;
END
$$;

-- The holds of each sale in deadline order: the sweep (flashsale.expire_due, per sale) and the
-- control plane's earliest hold of a sale. Partial: only held rows are in it, so it stays small
-- once orders are settled, and persist pays for it only on sales with holds.
--
-- Statistics lag behind a sale (autoanalyze runs a minute or so after its burst of orders): until
-- then the planner believes almost nothing is held and may pick this index for any query whose
-- WHERE clause implies status = 'held', scanning every hold of the sale. So the queries that
-- must find one row by its key (pay, cancel, the stock_returns marks) keep their conditions
-- out of the planner's sight (flashsale.hold_open, IS NOT TRUE); only the sweep and the hold
-- state name status = 'held' and, with a sale_id to match, can only use this index in order.
CREATE INDEX IF NOT EXISTS orders_held ON orders (sale_id, hold_until) WHERE status = 'held';

-- One row per released order (cancelled, or expired unpaid), inserted by the same statement that
-- records the outcome, so a released order has exactly one (the primary key forbids a second).
-- The control plane then returns the unit to the sale's pool in Redis (idempotent by order id:
-- the set fs:{SALE}:returned) and sets applied; the daemon of the node that sold the order
-- (node_id) tells its dataplane (the user's later claims get RELEASED) and sets released_on_node.
CREATE TABLE IF NOT EXISTS stock_returns (
	sale_id bigint NOT NULL,
	order_id bigint NOT NULL,          -- the u64's bits, as in orders
	node_id int NOT NULL,              -- the node that sold the order
	user_id numeric(20, 0) NOT NULL,
	reason text NOT NULL CHECK (reason IN ('expired', 'cancelled')),
	returned_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	applied boolean NOT NULL DEFAULT false, -- the unit is back in the Redis pool
	applied_at timestamptz,
	released_on_node boolean NOT NULL DEFAULT false, -- the owning dataplane was told
	released_at timestamptz,
	PRIMARY KEY (sale_id, order_id)
);
-- What the control plane has still to do, oldest first (and whether a sale has any); small, as
-- rows leave them once done.
CREATE INDEX IF NOT EXISTS stock_returns_unapplied ON stock_returns (returned_at) WHERE NOT applied;
CREATE INDEX IF NOT EXISTS stock_returns_unapplied_sale ON stock_returns (sale_id, order_id)
	WHERE NOT applied;
CREATE INDEX IF NOT EXISTS stock_returns_unreleased ON stock_returns (node_id, returned_at)
	WHERE NOT released_on_node;

-- How far flashsale-persist has written each journal of each node: seq of the last record
-- committed (0 or no row = nothing yet). Updated in the same transaction as the rows it covers,
-- so a restart resumes exactly where the last commit stopped. instance is the state directory's
-- identity (DIR/instance, the u64 as the bigint of the same bits): journals of a directory made
-- anew start at seq 1 again and must not inherit an old directory's checkpoints.
CREATE TABLE IF NOT EXISTS persist_checkpoints (
	node_id int NOT NULL,
	instance bigint NOT NULL,
	journal int NOT NULL,
	seq bigint NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (node_id, instance, journal)
);

-- Databases made before checkpoints carried the state directory's identity: add the column and
-- widen the key. Their old rows (instance 0) match no directory, so persist re-reads those journals
-- from the start and ON CONFLICT DO NOTHING absorbs the rows already there.
ALTER TABLE persist_checkpoints ADD COLUMN IF NOT EXISTS instance bigint NOT NULL DEFAULT 0;
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_constraint
			WHERE conrelid = 'persist_checkpoints'::regclass AND contype = 'p'
			AND array_length(conkey, 1) = 3) THEN
		ALTER TABLE persist_checkpoints DROP CONSTRAINT IF EXISTS persist_checkpoints_pkey;
		ALTER TABLE persist_checkpoints ADD PRIMARY KEY (node_id, instance, journal);
	END IF;
END
$$;

-- Chunked leases of several nodes (flashctl daemon --pg writes them; flashctl node forget reads
-- them). A node's row of a sale is written before its first lease of that sale is taken from
-- Redis, so the nodes that ever held a lease of a sale are known here even after Redis lost its
-- data: the sale's pool is rebuilt only once each of them reported its dataplane's totals to
-- Redis again (or was forgotten). leased and sold: the node's dataplane's journaled totals at
-- reported_at (leased net of units given back). forgotten_at: the node was released by
-- `flashctl node forget` (leased then equals sold: its unsold units went back to the pool).
CREATE TABLE IF NOT EXISTS node_leases (
	sale_id bigint NOT NULL,
	node_id int NOT NULL,
	leased bigint NOT NULL DEFAULT 0 CHECK (leased >= 0),
	sold bigint NOT NULL DEFAULT 0 CHECK (sold >= 0),
	reported_at timestamptz NOT NULL DEFAULT now(),
	forgotten_at timestamptz,
	PRIMARY KEY (sale_id, node_id)
);
-- Nodes released for good (flashctl node forget): their daemons are refused from then on.
CREATE TABLE IF NOT EXISTS forgotten_nodes (
	node_id int PRIMARY KEY,
	forgotten_at timestamptz NOT NULL DEFAULT now()
);

-- ---------------------------------------------------------------- the merchant API
-- Functions in schema flashsale: the only writers of an order's outcome. Each judges time with
-- clock_timestamp() read once just before its single conditional UPDATE of the row (so the same
-- instant decides and is recorded as settled_at; now() would be the transaction's start), and
-- the row lock that UPDATE takes serialises a payment racing the deadline, a cancel and the
-- sweep: one of them changes 'held', the others see the outcome. A hold is payable while
-- clock_timestamp() < hold_until, due from hold_until on.
--
-- SECURITY DEFINER with the search_path of the session that applied the schema (persist's, where
-- these tables are): a merchant's role needs only USAGE on the schema and EXECUTE on the
-- functions (granted by the operator), no privilege on the tables. EXECUTE is revoked from PUBLIC.
--
-- Outcomes are announced on channel flashsale_outcomes, payload JSON
--   {"sale" : 7, "order" : -9223372036854775807, "user" : 42, "status" : "paid"}
-- (status paid | cancelled | expired; order is the bigint the functions take), delivered when
-- the transaction commits, unless the setting flashsale.notify_outcomes is 'off' (per session, or
-- ALTER DATABASE ... SET flashsale.notify_outcomes = off): PostgreSQL serialises the commits of
-- all transactions that notify, so a notification per payment costs throughput (scripts/bench.sh
-- pay). New orders on channel flashsale_orders, once per persist batch and sale:
--   {"sale" : 7, "node" : 1, "orders" : 1200}.
CREATE SCHEMA IF NOT EXISTS flashsale;

-- flashsale.notify_outcome(sale, order_id, uid, status): the flashsale_outcomes notification.
CREATE OR REPLACE FUNCTION flashsale.notify_outcome(sale bigint, order_id bigint, uid numeric,
	status text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
	IF current_setting('flashsale.notify_outcomes', true) IS DISTINCT FROM 'off' THEN
		PERFORM pg_notify('flashsale_outcomes', json_build_object('sale', sale,
			'order', order_id, 'user', uid, 'status', status)::text);
	END IF;
END
$$;

-- flashsale.hold_open(status, hold_until, at): may the order still be paid or cancelled at
-- instant at? PL/pgSQL on purpose: the planner cannot see inside, so the UPDATEs of pay and
-- cancel find their row by the primary key whatever the statistics say (see orders_held).
CREATE OR REPLACE FUNCTION flashsale.hold_open(status text, hold_until timestamptz,
	at timestamptz) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
	RETURN status = 'held' AND hold_until > at;
END
$$;

-- flashsale.refusal(sale, order_id, asked, at): why the order could not be made `asked` ('paid'
-- or 'cancelled') at instant at: 'unknown' | 'already_<asked>' | 'not_held' | its other outcome |
-- 'expired' (still held, but due); NULL when it is held and open after all (it appeared after
-- the UPDATE's snapshot): the caller tries again.
CREATE OR REPLACE FUNCTION flashsale.refusal(sale bigint, order_id bigint, asked text,
	at timestamptz) RETURNS text
LANGUAGE plpgsql STABLE SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
	st text;
	until timestamptz;
BEGIN
	SELECT status, hold_until INTO st, until FROM orders
		WHERE sale_id = refusal.sale AND order_id = refusal.order_id;
	IF NOT FOUND THEN
		RETURN 'unknown';
	ELSIF st = asked THEN
		RETURN 'already_' || asked;
	ELSIF st = 'sold' THEN
		RETURN 'not_held';
	ELSIF st <> 'held' THEN
		RETURN st; -- the other outcome: 'paid', 'cancelled' or 'expired'
	ELSIF until <= at THEN
		RETURN 'expired'; -- due, not swept yet
	END IF;
	RETURN NULL;
END
$$;

-- flashsale.pay(sale, order_id): 'paid' (now paid) | 'already_paid' | 'expired' (the hold ran
-- out, whether or not the sweep has run yet: refund the buyer) | 'cancelled' | 'not_held' (an
-- order of a sale without holds: final when won) | 'unknown' (no such order).
CREATE OR REPLACE FUNCTION flashsale.pay(sale bigint, order_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
	t timestamptz;
	u numeric;
	answer text;
BEGIN
	-- A second round only when the row appeared between the UPDATE and the look-up.
	FOR attempt IN 1..3 LOOP
		t := clock_timestamp();
		UPDATE orders SET status = 'paid', settled_at = t
			WHERE sale_id = pay.sale AND order_id = pay.order_id
				AND flashsale.hold_open(status, hold_until, t)
			RETURNING user_id INTO u;
		IF FOUND THEN
			PERFORM flashsale.notify_outcome(pay.sale, pay.order_id, u, 'paid');
			RETURN 'paid';
		END IF;
		answer := flashsale.refusal(pay.sale, pay.order_id, 'paid', t);
		IF answer IS NOT NULL THEN
			RETURN answer;
		END IF;
	END LOOP;
	RAISE EXCEPTION 'flashsale.pay: order % of sale % keeps changing', pay.order_id, pay.sale;
END
$$;

-- flashsale.cancel(sale, order_id): 'cancelled' (now cancelled, its stock_returns row inserted by
-- the same statement) | 'already_cancelled' | 'paid' | 'expired' | 'not_held' | 'unknown'.
CREATE OR REPLACE FUNCTION flashsale.cancel(sale bigint, order_id bigint) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_column
DECLARE
	t timestamptz;
	u numeric;
	answer text;
BEGIN
	FOR attempt IN 1..3 LOOP
		t := clock_timestamp();
		WITH upd AS (
			UPDATE orders SET status = 'cancelled', settled_at = t
			WHERE sale_id = cancel.sale AND order_id = cancel.order_id
				AND flashsale.hold_open(status, hold_until, t)
			RETURNING sale_id, order_id, node_id, user_id)
		INSERT INTO stock_returns (sale_id, order_id, node_id, user_id, reason, returned_at)
			SELECT sale_id, order_id, node_id, user_id, 'cancelled', t FROM upd
			RETURNING user_id INTO u;
		IF FOUND THEN
			PERFORM flashsale.notify_outcome(cancel.sale, cancel.order_id, u, 'cancelled');
			RETURN 'cancelled';
		END IF;
		answer := flashsale.refusal(cancel.sale, cancel.order_id, 'cancelled', t);
		IF answer IS NOT NULL THEN
			RETURN answer;
		END IF;
	END LOOP;
	RAISE EXCEPTION 'flashsale.cancel: order % of sale % keeps changing', cancel.order_id,
		cancel.sale;
END
$$;

-- flashsale.order(sale, id) and flashsale.order_by_user(sale, uid): the order's row (no row: no
-- such order). status is the row's: a 'held' row whose hold_until has passed is due and can no
-- longer be paid; the sweep will mark it 'expired'.
CREATE OR REPLACE FUNCTION flashsale.order(sale bigint, id bigint)
RETURNS TABLE (sale_id bigint, order_id bigint, user_id numeric, node_id int, status text,
	won_at timestamptz, hold_until timestamptz, settled_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT o.sale_id, o.order_id, o.user_id, o.node_id, o.status, o.won_at, o.hold_until,
		o.settled_at
	FROM orders o WHERE o.sale_id = $1 AND o.order_id = $2
$$;

CREATE OR REPLACE FUNCTION flashsale.order_by_user(sale bigint, uid numeric)
RETURNS TABLE (sale_id bigint, order_id bigint, user_id numeric, node_id int, status text,
	won_at timestamptz, hold_until timestamptz, settled_at timestamptz)
LANGUAGE sql STABLE SECURITY DEFINER SET search_path FROM CURRENT AS $$
	SELECT o.sale_id, o.order_id, o.user_id, o.node_id, o.status, o.won_at, o.hold_until,
		o.settled_at
	FROM orders o WHERE o.sale_id = $1 AND o.user_id = $2
$$;

-- flashsale.expire_due(batch): expire up to batch due holds (hold_until <= now) in one
-- statement: each sale's earliest first, the rows locked FOR UPDATE SKIP LOCKED (several
-- sweepers take disjoint rows; a row being paid or cancelled is left to that transaction),
-- marked 'expired', one stock_returns row each. Returns the rows expired; fewer than batch: none
-- left due (but rows others held locked). Sale by sale (a probe of orders_held per sales row):
-- a range scan in deadline order whatever the statistics say, where one scan over all sales
-- would need an index of its own that pay could be misled into (see orders_held). The instant is
-- read once: a volatile clock_timestamp() in the WHERE clause could not bound an index scan.
-- The UPDATE takes the locked rows by their ctid (a TID scan, whatever the statistics say): they
-- are held, and stay so until this transaction ends, since every writer of an outcome waits for
-- the row lock and then finds the row expired.
CREATE OR REPLACE FUNCTION flashsale.expire_due(batch int) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
	t timestamptz := clock_timestamp();
	n int;
BEGIN
	IF batch IS NULL OR batch < 1 THEN
		RAISE EXCEPTION 'flashsale.expire_due: batch must be at least 1, not %', batch;
	END IF;
	WITH upd AS (
		UPDATE orders o SET status = 'expired', settled_at = t
		WHERE o.ctid = ANY (ARRAY(
			SELECT d.ctid FROM sales s CROSS JOIN LATERAL (
				SELECT h.ctid FROM orders h
				WHERE h.sale_id = s.sale_id AND h.status = 'held'
					AND h.hold_until <= t
				ORDER BY h.hold_until LIMIT batch
				FOR UPDATE SKIP LOCKED) d
			LIMIT batch))
		RETURNING o.sale_id, o.order_id, o.node_id, o.user_id),
	ins AS (
		INSERT INTO stock_returns (sale_id, order_id, node_id, user_id, reason, returned_at)
		SELECT sale_id, order_id, node_id, user_id, 'expired', t FROM upd
		RETURNING flashsale.notify_outcome(sale_id, order_id, user_id, 'expired'))
	SELECT count(*) INTO n FROM ins;
	RETURN n;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA flashsale FROM PUBLIC;
