-- taskgate.interfaces: which rule answers a method on each endpoint. The task endpoint
-- (/api/v2/task and its v1 path) is answered by rules/<method>.lua; the bin endpoint
-- (/api/v2/bin and its v1 path) by rules/bin/<method>.lua. Some methods belong to both, as the
-- interface documentation says; this table is where a site changes that.

local M = {}

--- Methods of rules/ that the bin endpoint answers too (the port methods).
M.shared_with_bin = {
  openport = true, closeport = true, openbin = true, closebin = true, removebin = true, getportstatus = true,
}

--- Whether the task endpoint also answers the methods of rules/bin/ (getbinstate, portbinmode...:
--- the documentation places several of them on both, and v1 clients send them all to the task
--- path). Assumed; a site that wants the endpoints apart sets it to false.
M.task_answers_bin_methods = true

--- The rules that only read the store (rules/<name>.lua as "<name>", rules/bin/<name>.lua as
--- "bin/<name>"). Their calls run on a read connection of their worker: beside the batch that
--- writes, never waiting for the store lock, seeing the store as last committed (an acknowledged
--- change always; a change not yet committed never). A rule listed here that writes (its own
--- statement, an audit record, a _before hook's) gets 1999 and changes nothing: take it out of
--- this list first. A site's own rule that only reads may be added.
M.read_only = {
  gettaskinfo = true, getportstatus = true,
  ["bin/getbinstate"] = true, ["bin/getbininfo"] = true, ["bin/getbinloc"] = true, ["bin/getportqueue"] = true,
}

--- The port modes openport accepts: the documented ones (Open Port, Port pages). A port opened
--- without port_mode is OPEN, the documented default. CLOSED is a mode a port is in, not one it
--- opens in: openport answers 1918 to it (assumed).
M.port_modes = {
  OPEN = true, AUTO = true, INSERT = true, SWAP = true, MOVE = true, SEQUENCE = true, DISABLED = true,
  MULTIPORT_PUPPET = true, RUNOUT = true,
}
M.default_port_mode = "OPEN"

--- Other words clients send for a documented mode (assumed): PICK was taskgate's own default
--- before, so clients set up against it keep working; it is OPEN.
M.port_mode_aliases = { PICK = "OPEN" }

--- The port modes in which insertbin takes a bin (assumed): INSERT, as documented, and the default
--- OPEN, since public clients open a port for insertion without a port_mode (703SAC/RobotInterface,
--- createXmlOpenAndClosePort with isInsert) and insert right after.
M.insert_port_modes = { INSERT = true, OPEN = true }

--- How replies name a bin's mode. The documentation's own client recipes compare getbinstate's
--- bin_mode with the one-letter codes ("O" once open at the port in the newest Port Flows
--- Examples, "P" in v2.3.3's Port Flow Examples), the codes of the Value Codes page; so replies
--- carry those letters (assumed). A site whose clients expect the words sets this to "word".
--- Requests (portbinmode) take either.
M.bin_mode_reply = "code"
M.bin_mode_codes = {
  GRID = "G", FORECAST = "F", PREPARED = "T", PORT = "P", TOGRID = "R", OPEN = "O", CLOSED = "C",
  OUTSIDE = "X", DELETED = "D",
}

--- The rule for `name` on `interface` ("task" or "bin") among `rules` (name -> rule, bin rules
--- under "bin/<name>"), or nil: an unknown method there.
function M.find(rules, name, interface)
  if interface == "bin" then
    return rules["bin/" .. name] or (M.shared_with_bin[name] and rules[name]) or nil
  end
  return rules[name] or (M.task_answers_bin_methods and rules["bin/" .. name]) or nil
end

return M
