-- flashsale PostgreSQL schema: sales, orders and the persist checkpoints (idempotent).
--
-- Applied by flashsale-persist at every start (embedded as fs_schema_sql), so every statement
-- must be safe to run again on a database that already has it.

-- One row per sale ever defined on any node (upserted from the control journals).
CREATE TABLE IF NOT EXISTS sales (
	sale_id bigint PRIMARY KEY,
	stock bigint NOT NULL,           -- whole stock of the sale, all nodes together
	starts_at timestamptz NOT NULL,  -- inclusive
	ends_at timestamptz NOT NULL,    -- exclusive; moved earlier when an operator stops the sale
	admission text NOT NULL CHECK (admission IN ('open', 'token')),
	created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per WON reply (one ORDER record of a worker journal).
--
-- order_id: the dataplane's order ids are u64; they are stored as the bigint with the same 64 bits
-- (the u64 cast to int64), so ids >= 2^63 read as negative numbers here. Convert back with
-- (order_id::numeric + 18446744073709551616) % 18446744073709551616 when a reader needs the u64.
--
-- user_id: numeric(20,0) holds every u64 exactly and reads as the user id the client sent
-- (no bit reinterpretation), at the cost of a few bytes per row.
CREATE TABLE IF NOT EXISTS orders (
	sale_id bigint NOT NULL,
	order_id bigint NOT NULL,
	user_id numeric(20, 0) NOT NULL,
	node_id int NOT NULL,
	won_at timestamptz NOT NULL,
	status text NOT NULL DEFAULT 'held'
		CHECK (status IN ('held', 'paid', 'expired', 'cancelled')),
	PRIMARY KEY (sale_id, order_id),
	UNIQUE (sale_id, user_id)
);

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
