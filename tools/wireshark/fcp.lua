-- Wireshark / tshark dissector for FCP/1 revision 2, flashsale's UDP claim protocol
-- (docs/PROTOCOL.md is the contract; this file follows its tables field by field). Its filter
-- name is fcp1: Wireshark's own "fcp" is Fibre Channel.
--
-- Use:   tshark -X lua_script:tools/wireshark/fcp.lua -r capture.pcapng -Y fcp1
--        wireshark -X lua_script:tools/wireshark/fcp.lua capture.pcapng
--        (or copy it into ~/.local/lib/wireshark/plugins/ to have it always)
-- Ports: UDP 7777 (preference fcp1.udp_port, e.g. -o fcp1.udp_port:9000); on any other UDP port a
--        48-byte payload that starts with magic "FC", version 1 and a known type is FCP too
--        (heuristic, "fcp1_udp"; turn it off with --disable-heuristic fcp1_udp).
-- Fields: fcp1.magic fcp1.version fcp1.type fcp1.sale_id fcp1.user_id fcp1.request_id; requests:
--        fcp1.token_expiry (+ fcp1.token_expiry_time) fcp1.node_id fcp1.flags fcp1.token; replies:
--        fcp1.status fcp1.reserved fcp1.node_id fcp1.retry_after_ms fcp1.order_id fcp1.remaining
--        fcp1.hold_left_ms; request and reply matched by request_id and client address and port:
--        fcp1.response_in, fcp1.response_to, fcp1.time (request to reply; fcp1.response_in needs
--        two passes: tshark -2).
-- Expert info: what the node drops is Malformed/Error (payload not 48 bytes, wrong magic, unknown
--        version or type, non-zero flags); a reply's non-zero reserved byte is a Protocol/Note
--        (clients should ignore it) and a reserved status value (11 and above) a Protocol/Warning.

local fcp1 = Proto("fcp1", "Flash Claim Protocol (FCP/1)")

local FCP_LEN = 48
local FCP_MAGIC = 0x4643 -- "FC"
local FCP_VERSION = 1
local DEFAULT_PORT = 7777

local TYPES = {
	[0x01] = "CLAIM",
	[0x02] = "SALE_STATUS",
	[0x81] = "CLAIM_RESULT",
	[0x82] = "SALE_STATUS_RESULT",
}

-- PROTOCOL.md "Status codes" (values 11 and above are reserved)
local STATUSES = {
	[0] = "WON",
	[1] = "ALREADY_WON",
	[2] = "SOLD_OUT",
	[3] = "NOT_STARTED",
	[4] = "ENDED",
	[5] = "UNKNOWN_SALE",
	[6] = "BAD_TOKEN",
	[7] = "RATE_LIMITED",
	[8] = "RETRY",
	[9] = "ACTIVE",
	[10] = "RELEASED",
}
local STATUS_MAX = 10

local f = {
	magic = ProtoField.uint16("fcp1.magic", "Magic", base.HEX),
	version = ProtoField.uint8("fcp1.version", "Version", base.DEC),
	type = ProtoField.uint8("fcp1.type", "Type", base.HEX, TYPES),
	sale_id = ProtoField.uint32("fcp1.sale_id", "Sale id", base.DEC),
	user_id = ProtoField.uint64("fcp1.user_id", "User id", base.DEC),
	token_expiry = ProtoField.uint32("fcp1.token_expiry", "Token expiry", base.DEC, nil, nil,
		"unix seconds after which the token is refused"),
	token_expiry_time = ProtoField.absolute_time("fcp1.token_expiry_time", "Token expiry time",
		base.UTC),
	node_id = ProtoField.uint16("fcp1.node_id", "Node id", base.DEC),
	flags = ProtoField.uint16("fcp1.flags", "Flags", base.HEX),
	token = ProtoField.bytes("fcp1.token", "Token"),
	status = ProtoField.uint8("fcp1.status", "Status", base.DEC, STATUSES),
	reserved = ProtoField.uint8("fcp1.reserved", "Reserved", base.HEX),
	retry_after_ms = ProtoField.uint32("fcp1.retry_after_ms", "Retry after (ms)", base.DEC),
	order_id = ProtoField.uint64("fcp1.order_id", "Order id", base.DEC),
	remaining = ProtoField.uint32("fcp1.remaining", "Remaining", base.DEC),
	hold_left_ms = ProtoField.uint32("fcp1.hold_left_ms", "Hold left (ms)", base.DEC),
	request_id = ProtoField.uint64("fcp1.request_id", "Request id", base.DEC),
	response_in = ProtoField.framenum("fcp1.response_in", "Response in"),
	response_to = ProtoField.framenum("fcp1.response_to", "Request in"),
	time = ProtoField.relative_time("fcp1.time", "Time from request"),
}
fcp1.fields = f

local e = {
	bad_length = ProtoExpert.new("fcp1.bad_length", "FCP/1 payloads are 48 bytes",
		expert.group.MALFORMED, expert.severity.ERROR),
	bad_magic = ProtoExpert.new("fcp1.bad_magic", "Wrong magic (not \"FC\")",
		expert.group.MALFORMED, expert.severity.ERROR),
	bad_version = ProtoExpert.new("fcp1.bad_version", "Unknown version (not 1)",
		expert.group.MALFORMED, expert.severity.ERROR),
	bad_type = ProtoExpert.new("fcp1.bad_type", "Unknown type",
		expert.group.MALFORMED, expert.severity.ERROR),
	flags_nonzero = ProtoExpert.new("fcp1.flags_nonzero", "Flags not zero (reserved)",
		expert.group.MALFORMED, expert.severity.ERROR),
	reserved_nonzero = ProtoExpert.new("fcp1.reserved_nonzero",
		"Reserved byte not zero (clients ignore it)", expert.group.PROTOCOL,
		expert.severity.NOTE),
	reserved_status = ProtoExpert.new("fcp1.reserved_status",
		"Reserved status value (clients treat it as a final no)", expert.group.PROTOCOL,
		expert.severity.WARN),
}
fcp1.experts = e

fcp1.prefs.udp_port = Pref.uint("UDP port", DEFAULT_PORT, "The UDP port of the FCP/1 server")

-- Request/reply matching, filled on the first pass: pending[key] = frame of the last request
-- with that request_id from that client; seen[frame] = {t = its time, resp = reply frame} for a
-- request, {req = request frame, dt = seconds} for a reply.
local pending, seen = {}, {}
function fcp1.init()
	pending, seen = {}, {}
end

-- Adds field @fld at [@off, @off + @len) when the payload holds it; returns the item or nil.
local function add(tree, tvb, fld, off, len)
	if off + len > tvb:len() then
		return nil
	end
	return tree:add(fld, tvb(off, len))
end

-- The big-endian unsigned integer at [@off, @off + @len), nil past the payload's end.
local function u(tvb, off, len)
	if off + len > tvb:len() then
		return nil
	end
	return tvb(off, len):uint()
end

-- The u64 at @off as a decimal string ("?" past the payload's end), for the Info column.
local function u64s(tvb, off)
	if off + 8 > tvb:len() then
		return "?"
	end
	return tostring(tvb(off, 8):uint64())
end

-- The header both directions share (bytes 0 to 15); returns the type value (or nil).
local function dissect_header(tvb, tree)
	local item = add(tree, tvb, f.magic, 0, 2)
	if item and u(tvb, 0, 2) ~= FCP_MAGIC then
		item:add_proto_expert_info(e.bad_magic)
	end
	item = add(tree, tvb, f.version, 2, 1)
	if item and u(tvb, 2, 1) ~= FCP_VERSION then
		item:add_proto_expert_info(e.bad_version)
	end
	local typ = u(tvb, 3, 1)
	item = add(tree, tvb, f.type, 3, 1)
	if item and TYPES[typ] == nil then
		item:add_proto_expert_info(e.bad_type)
	end
	add(tree, tvb, f.sale_id, 4, 4)
	add(tree, tvb, f.user_id, 8, 8)
	return typ
end

local function dissect_request(tvb, tree)
	local expiry = u(tvb, 16, 4)
	if add(tree, tvb, f.token_expiry, 16, 4) and expiry ~= 0 then
		tree:add(f.token_expiry_time, tvb(16, 4), NSTime.new(expiry, 0)):set_generated()
	end
	add(tree, tvb, f.node_id, 20, 2)
	local item = add(tree, tvb, f.flags, 22, 2)
	if item and u(tvb, 22, 2) ~= 0 then
		item:add_proto_expert_info(e.flags_nonzero)
	end
	add(tree, tvb, f.token, 24, 16)
	add(tree, tvb, f.request_id, 40, 8)
end

local function dissect_reply(tvb, tree)
	local st = u(tvb, 16, 1)
	local item = add(tree, tvb, f.status, 16, 1)
	if item and st > STATUS_MAX then
		item:add_proto_expert_info(e.reserved_status)
	end
	item = add(tree, tvb, f.reserved, 17, 1)
	if item and u(tvb, 17, 1) ~= 0 then
		item:add_proto_expert_info(e.reserved_nonzero)
	end
	add(tree, tvb, f.node_id, 18, 2)
	add(tree, tvb, f.retry_after_ms, 20, 4)
	add(tree, tvb, f.order_id, 24, 8)
	add(tree, tvb, f.remaining, 32, 4)
	add(tree, tvb, f.hold_left_ms, 36, 4)
	add(tree, tvb, f.request_id, 40, 8)
	return st
end

-- Pairs a request with its reply by (request_id, client address and port); adds the links.
local function match(tvb, pinfo, tree, is_req)
	if tvb:len() < FCP_LEN then
		return
	end
	local n = pinfo.number
	local client = is_req and (tostring(pinfo.src) .. ":" .. pinfo.src_port)
		or (tostring(pinfo.dst) .. ":" .. pinfo.dst_port)
	local key = u64s(tvb, 40) .. "@" .. client
	if not pinfo.visited then
		if is_req then
			pending[key] = n
			seen[n] = {t = pinfo.abs_ts}
		elseif pending[key] and seen[n] == nil then
			local q = pending[key]
			seen[n] = {req = q, dt = pinfo.abs_ts - seen[q].t}
			seen[q].resp = seen[q].resp or n
			pending[key] = nil
		end
	end
	local s = seen[n]
	if s == nil then
		return
	end
	if is_req and s.resp then
		tree:add(f.response_in, s.resp):set_generated()
	elseif not is_req and s.req then
		tree:add(f.response_to, s.req):set_generated()
		local secs = math.floor(s.dt)
		local ns = math.floor((s.dt - secs) * 1e9 + 0.5)
		tree:add(f.time, NSTime.new(secs, ns)):set_generated()
	end
end

function fcp1.dissector(tvb, pinfo, root)
	local len = tvb:len()
	if len == 0 then
		return 0
	end
	pinfo.cols.protocol = "FCP"
	local tree = root:add(fcp1, tvb(0, math.min(len, FCP_LEN)))
	if len ~= FCP_LEN then
		tree:add_proto_expert_info(e.bad_length,
			"FCP/1 payloads are 48 bytes, this one is " .. len)
	end
	local typ = dissect_header(tvb, tree)
	local is_req
	if typ == 0x01 or typ == 0x02 then
		is_req = true
	elseif typ == 0x81 or typ == 0x82 then
		is_req = false
	else -- unknown type: by direction
		is_req = pinfo.dst_port == fcp1.prefs.udp_port
	end
	local what = TYPES[typ] or (typ and string.format("type 0x%02x", typ) or "truncated")
	local info = what .. " sale=" .. (u(tvb, 4, 4) or "?") .. " user=" .. u64s(tvb, 8)
	if is_req then
		dissect_request(tvb, tree)
	else
		local st = dissect_reply(tvb, tree)
		if st then
			info = info .. " " .. (STATUSES[st] or ("status " .. st))
			if st == 0 or st == 1 or st == 10 then
				info = info .. " order=" .. u64s(tvb, 24)
			end
		end
	end
	pinfo.cols.info = info .. " request_id=" .. u64s(tvb, 40)
	match(tvb, pinfo, tree, is_req)
	return len
end

-- Heuristic for other ports: a well-formed header only (48 bytes, magic, version, known type).
local function heuristic(tvb, pinfo, root)
	if tvb:len() ~= FCP_LEN or tvb(0, 2):uint() ~= FCP_MAGIC or tvb(2, 1):uint() ~= FCP_VERSION
		or TYPES[tvb(3, 1):uint()] == nil then
		return false
	end
	fcp1.dissector(tvb, pinfo, root)
	return true
end

local registered_port = nil
local function register_port()
	local udp = DissectorTable.get("udp.port")
	if registered_port ~= nil then
		udp:remove(registered_port, fcp1)
	end
	registered_port = fcp1.prefs.udp_port
	udp:add(registered_port, fcp1)
end

function fcp1.prefs_changed()
	if registered_port ~= fcp1.prefs.udp_port then
		register_port()
	end
end

register_port()
fcp1:register_heuristic("udp", heuristic)
