-- taskgate.faults: every fault code the gateway answers, in one table.
-- `documented` codes come from the public task-interface documentation. `assumed` codes cover
-- conditions the documentation is silent on; a site can change them here without recompiling.
-- Rules name faults by code (`fault(1017)`), as the documentation does.

local faults = {
  [1000] = { name = "PORT_IS_NOT_AVAILABLE", source = "documented" },
  [1001] = { name = "PORT_IS_CLOSING", source = "documented" },
  [1002] = { name = "PORT_IS_ALREADY_OPEN", source = "documented" },
  [1003] = { name = "MISSING_PARAMETER_PORT_ID", source = "documented" },
  [1004] = { name = "INVALID_PARAMETER_PORT_ID", source = "documented" },
  [1006] = { name = "INVALID_PARAMETER_CONTENT", source = "documented" },
  [1007] = { name = "INVALID_PARAMETER_CATEGORY", source = "documented" },
  [1008] = { name = "INVALID_PARAMETER_REQ_TIME", source = "documented" },
  [1009] = { name = "PORT_IS_NOT_OPEN", source = "documented" },
  [1010] = { name = "INVALID_PARAMETER_BIN_ID", source = "documented" },
  [1011] = { name = "BIN_DOES_NOT_EXIST", source = "documented" },
  [1012] = { name = "INVALID_PARAMETER_TASK_ID", source = "documented" },
  [1013] = { name = "INVALID_PARAMETER_TASKGROUP_ID", source = "documented" },
  [1014] = { name = "INVALID_PARAMETER_SHIPMENT", source = "documented" },
  [1015] = { name = "NO_TASKS_OR_BINS_FULFILLS_PORT_SELECT", source = "documented" },
  [1016] = { name = "NO_READY_BINS_FULLFILLS_PORT_SELECT", source = "documented" },
  [1017] = { name = "TASK_DOES_NOT_EXIST", source = "documented" },
  [1018] = { name = "TASKGROUP_DOES_NOT_EXIST", source = "documented" },
  [1019] = { name = "TASKGROUP_IS_SELECTED_BY_ANOTHER_PORT", source = "documented" },
  [1020] = { name = "CONFLICTS_WITH_PREV_OPENBIN", source = "documented" },
  [1021] = { name = "CONFLICTS_WITH_SELECTED_SHIPMENT", source = "documented" },
  [1027] = { name = "NOT_READY_RETRY", source = "documented" }, -- name unknown; clients retry it
  [1040] = { name = "MISSING_PARAMETER_TASK_ID", source = "documented" },
  [1045] = { name = "TASK_IS_SELECTED_BY_PORT", source = "documented" },

  -- Assumed: the documentation gives no code for these conditions. They sit in a block of
  -- their own (19xx) so that no documented code is ever reused with another meaning.
  [1900] = { name = "MALFORMED_REQUEST", source = "assumed" }, -- bad XML, root not <methodcall>, no <name>,
  -- an encoding other than UTF-8 and ISO-8859-1, a namespace prefix or a second namespace
  [1901] = { name = "UNKNOWN_METHOD", source = "assumed" },
  [1902] = { name = "TASKGROUP_ALREADY_EXISTS", source = "assumed" },
  [1903] = { name = "TASK_ALREADY_EXISTS", source = "assumed" }, -- task_id is unique across all groups
  [1904] = { name = "MISSING_PARAMETER_TASKGROUP_ID", source = "assumed" },
  [1905] = { name = "MISSING_PARAMETER_CATEGORY", source = "assumed" },
  [1906] = { name = "MISSING_PARAMETER_REQ_TIME", source = "assumed" },
  [1907] = { name = "MISSING_PARAMETER_PRIORITY", source = "assumed" },
  [1908] = { name = "INVALID_PARAMETER_PRIORITY", source = "assumed" },
  [1909] = { name = "MISSING_PARAMETER_TASKS", source = "assumed" }, -- no <task> at all
  [1910] = { name = "INVALID_PARAMETER_TASKS", source = "assumed" }, -- <tasks>/<task> not elements
  [1911] = { name = "MISSING_PARAMETER_BIN_ID", source = "assumed" },
  [1912] = { name = "INVALID_PARAMETER_START_TIME", source = "assumed" },
  [1913] = { name = "INVALID_PARAMETER_SUSPENDED", source = "assumed" },
  [1914] = { name = "INVALID_PARAMETER_ITEM", source = "assumed" },
  [1915] = { name = "INVALID_PARAMETER_ORDER", source = "assumed" },
  [1916] = { name = "INVALID_PARAMETER_ESTPICKTIME", source = "assumed" },
  [1917] = { name = "CONFLICTING_PARAMETERS", source = "assumed" }, -- e.g. task_id with taskgroup_id
  [1918] = { name = "INVALID_PARAMETER_PORT_MODE", source = "assumed" },
  [1919] = { name = "INVALID_PARAMETER_SUSPEND_TASKGROUP", source = "assumed" },
  [1920] = { name = "INVALID_PARAMETER_TASKCOMPLETE", source = "assumed" },
  [1921] = { name = "REFUSED_BY_SITE_POLICY", source = "assumed" }, -- for site rules: allow-lists, windows, limits
  [1922] = { name = "UPSTREAM_UNAVAILABLE", source = "assumed" }, -- bridge: unreachable, timed out or garbage
  -- The bin interface (rules/bin/) and ad-hoc bins.
  [1923] = { name = "MISSING_PARAMETER_BIN_MODE", source = "assumed" },
  [1924] = { name = "INVALID_PARAMETER_BIN_MODE", source = "assumed" }, -- portbinmode: OPEN, CLOSED or OUTSIDE
  [1925] = { name = "BIN_IS_AT_ANOTHER_PORT", source = "assumed" }, -- openbin, portbinmode, flushportbin
  [1926] = { name = "BIN_ALREADY_EXISTS", source = "assumed" }, -- insertbin
  [1927] = { name = "PORT_IS_NOT_IN_INSERT_MODE", source = "assumed" }, -- insertbin
  [1928] = { name = "BIN_MODE_CHANGE_NOT_ALLOWED", source = "assumed" }, -- OUTSIDE only from TOGRID
  [1929] = { name = "BIN_IS_OPEN", source = "assumed" }, -- flushportbin of the bin open at the port
  [1930] = { name = "TOO_MANY_BINS", source = "assumed" }, -- a bin query matching more than 10000 bins
  [1931] = { name = "TOO_MANY_TASKS", source = "assumed" }, -- over 10000 tasks to create, add or list in one call
  [1932] = { name = "QUERY_TOO_BROAD", source = "assumed" }, -- filters the store cannot answer within bounds: narrow them
  [1933] = { name = "UNKNOWN_FILTER", source = "assumed" }, -- a bin query parameter it cannot apply (would widen the answer)
  -- The store's database (--store postgresql://...) is out of reach or failing over, did not
  -- grant a row lock in time, or refused to commit the call's turn: nothing was changed; the
  -- client may retry, here or through another gateway (docs/ha.md).
  [1934] = { name = "STORE_UNAVAILABLE", source = "assumed" },
  -- Bridge: a call the rules changed holds a value the task interface's XML cannot carry as it
  -- is (a control character, U+FFFE, bytes that are not UTF-8) or encodes larger than an
  -- upstream takes. Nothing was sent; the log line and the audit say which value.
  [1935] = { name = "CALL_NOT_FORWARDABLE", source = "assumed" },
  [1999] = { name = "INTERNAL_ERROR", source = "assumed" }, -- a rule failed; its changes were undone
}

return faults
