-- The C core's unit tests (spec/c/*_test.c, built as unit_<name> next to the gateway): each
-- executable prints TAP, and each of its tests is one case here, so busted counts them with the
-- rest. Under the sanitizer pass (TASKGATE_BUILD=build-asan) the ASan builds run, leak checks on.
local root = os.getenv("TASKGATE_ROOT") or "."
local build = os.getenv("TASKGATE_BUILD") or (root .. "/build")

-- Runs one unit executable; returns its tests ({name, ok, notes}) and how it ended.
local function run(path)
  -- LD_PRELOAD is for the busted process (the native module); the executable has ASan linked in.
  local pipe = assert(io.popen("env -u LD_PRELOAD ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 " .. path .. " 2>&1"))
  local tests, notes, planned = {}, {}, nil
  for line in pipe:lines() do
    local failed, name = line:match("^(n?o?t? ?)ok %d+ %- (.*)$")
    if name then
      tests[#tests + 1] = { name = name, ok = failed == "", notes = table.concat(notes, "\n") }
      notes = {}
    elseif line:match("^1%.%.%d+$") then
      planned = tonumber(line:match("%d+$"))
    elseif not line:match("^# [%w ]+$") then
      notes[#notes + 1] = line
    end
  end
  local _, _, status = pipe:close()
  return tests, planned, status, table.concat(notes, "\n")
end

local units = {}
for name in io.popen("ls " .. build .. "/unit_* 2>/dev/null"):lines() do units[#units + 1] = name end
table.sort(units)

describe("the C core's unit tests", function()
  it("are built", function()
    assert.is_true(#units > 0, "no unit_* executables in " .. build)
  end)

  for _, path in ipairs(units) do
    local unit = path:match("unit_([%w_]+)$")
    local tests, planned, status, trailing = run(path)
    describe(unit, function()
      for _, test in ipairs(tests) do
        it(test.name, function()
          assert.is_true(test.ok, test.notes)
        end)
      end
      it("ran to its end and exited cleanly", function()
        assert.is_true(#tests > 0 and planned == #tests, "it stopped early (no plan line for its tests)\n" .. trailing)
        local all_ok = true
        for _, test in ipairs(tests) do all_ok = all_ok and test.ok end
        -- A sanitizer's report at exit (a leak) fails the run though every test passed.
        assert.is_true(status == 0 or not all_ok, "exit status " .. tostring(status) .. "\n" .. trailing)
      end)
    end)
  end
end)
