local runtime = require "helpers.runtime"

describe("taskgate.check", function()
  local check, fault
  setup(function()
    local rt = runtime.new()
    check, fault = require "taskgate.check", require "taskgate.fault"
  end)

  local function code_of(f, ...)
    local ok, err = pcall(f, ...)
    assert.is_false(ok)
    assert.is_true(fault.is(err))
    return err.code
  end

  local ids = { min = 1, max = 2147483647, missing = 1040, invalid = 1012 }

  it("returns the integer for plain digits", function()
    assert.equal(123004, check.int("123004", ids))
  end)

  it("accepts the bounds 1 and 2147483647", function()
    assert.equal(1, check.int("1", ids))
    assert.equal(2147483647, check.int("2147483647", ids))
  end)

  it("tolerates surrounding whitespace and leading zeros", function()
    assert.equal(5, check.int("  5\n", ids))
    assert.equal(7, check.int("007", ids))
  end)

  it("raises the missing fault when the parameter is absent", function()
    assert.equal(1040, code_of(check.int, nil, ids))
  end)

  it("reads up to 18 digits, whatever the bounds", function()
    assert.equal(999999999999999999, check.int("999999999999999999", { max = math.maxinteger, invalid = 1012 }))
    assert.equal(1012, code_of(check.int, "1000000000000000000", { max = math.maxinteger, invalid = 1012 }))
  end)

  for _, bad in ipairs({ "", "   ", "abc", "12a", "+5", "-5", "1.5", "1e3", "0x10", "0", "2147483648",
    "99999999999999999999", "1 2", "5\0", "\0" .. "5", "\2265", "\u{FF15}" }) do
    it("raises the invalid fault for '" .. bad .. "'", function()
      assert.equal(1012, code_of(check.int, bad, ids))
    end)
  end

  it("raises the invalid fault for a repeated or nested parameter, or a value that is no text", function()
    assert.equal(1012, code_of(check.int, 5, ids)) -- a number is not what a decoder hands over
    assert.equal(1012, code_of(check.int, { "1", "2" }, ids))
    assert.equal(1012, code_of(check.int, { x = "1" }, ids))
  end)

  it("returns nil for an absent optional parameter", function()
    assert.is_nil(check.int(nil, { optional = true, invalid = 1014 }))
  end)

  it("reads booleans as 1/0/true/false in any case", function()
    local opts = { invalid = 1913 }
    assert.is_true(check.bool("1", opts))
    assert.is_true(check.bool("TRUE", opts))
    assert.is_false(check.bool("0", opts))
    assert.is_false(check.bool("false", opts))
    assert.equal(1913, code_of(check.bool, "yes", opts))
    assert.is_false(check.bool(nil, { optional = true, default = false, invalid = 1913 }))
  end)

  it("reads UTC times and refuses other forms and ranges", function()
    local opts = { invalid = 1008, missing = 1906 }
    local text, epoch = check.time("2024-02-29T12:00:00Z", opts)
    assert.equal("2024-02-29T12:00:00Z", text)
    assert.equal(1709208000, epoch)
    for _, bad in ipairs({ "2023-02-29T12:00:00Z", "2024-01-01 12:00:00", "2024-01-01T12:00:00",
      "2024-01-01T12:00:00.1234567890Z", "2024-01-01T12:00:00.Z", "2024-01-01T12:00:00+1:00", "2024-01-01T12:00:00+24:00",
      "1970-12-31T23:59:59Z", "2038-01-19T00:00:00Z", "2024-13-01T00:00:00Z" }) do
      assert.equal(1008, code_of(check.time, bad, opts))
    end
    assert.equal(1906, code_of(check.time, nil, opts))
  end)

  it("reads the forms client libraries write for a UTC time, and takes an offset into account", function()
    local opts = { invalid = 1008 }
    for _, sent in ipairs({ "2024-05-01T08:00:00.123Z", "2024-05-01T08:00:00.0000000Z", "2024-05-01T08:00:00+00:00",
      "2024-05-01T08:00:00-00:00", "2024-05-01T08:00:00+0000", "2024-05-01T08:00:00.5+00:00", "2024-05-01t08:00:00z",
      "2024-05-01 08:00:00+00:00", "2024-05-01T10:00:00+02:00", "2024-05-01T03:30:00-04:30" }) do
      local text, epoch = check.time(sent, opts)
      assert.equal("2024-05-01T08:00:00Z", text, sent)
      assert.equal(1714550400, epoch, sent)
    end
  end)

  it("treats an empty optional element as absent, an empty mandatory one as invalid", function()
    assert.is_nil(check.int("", { optional = true, invalid = 1014 }))
    assert.is_nil(check.int("  ", { optional = true, invalid = 1014 }))
    assert.equal(7, check.bool("", { optional = true, default = 7, invalid = 1919 }))
    assert.is_nil(check.time("", { optional = true, invalid = 1912 }))
    assert.equal(1012, code_of(check.int, "", { missing = 1040, invalid = 1012 }))
  end)

  it("takes a JSON array of elements for a list, and of values for values", function()
    assert.same({ { task_id = "1" }, { task_id = "2" } },
      check.list({ { task_id = "1" }, { task_id = "2" } }, "task", { missing = 1909, invalid = 1910 }))
    assert.equal(1910, code_of(check.list, { { task = { task_id = "1" } } }, "task", { missing = 1909, invalid = 1910 }))
    assert.same({ 6111, 6112 }, check.values({ "6111", "6112" }, "bin_id", check.int, { invalid = 1010, bare = true }))
    assert.equal(1010, code_of(check.values, { "6111" }, "bin_id", check.int, { invalid = 1010 }))
  end)

  it("lists one or several elements and refuses text", function()
    local opts = { missing = 1909, invalid = 1910 }
    assert.equal(1, #check.list({ task = { task_id = "1" } }, "task", opts))
    assert.equal(2, #check.list({ task = { { task_id = "1" }, { task_id = "2" } } }, "task", opts))
    assert.same({ {} }, check.list({ task = "" }, "task", opts))
    assert.equal(1909, code_of(check.list, nil, "task", opts))
    assert.equal(1909, code_of(check.list, "", "task", opts))
    assert.equal(1910, code_of(check.list, "text", "task", opts))
    assert.equal(1910, code_of(check.list, { task = "text" }, "task", opts))
  end)

  -- The integer parameters' contracts, written once in taskgate.params, as the rules use them.
  describe("through taskgate.params", function()
    local params
    setup(function() params = require "taskgate.params" end)

    it("checks a task_id against 1..2147483647 with 1040 when missing and 1012 when invalid", function()
      assert.equal(2147483647, params.task_id("2147483647"))
      assert.equal(1040, code_of(params.task_id, nil))
      assert.equal(1012, code_of(params.task_id, "0"))
      assert.equal(1012, code_of(params.task_id, "2147483648"))
    end)

    it("takes the same parameter as an optional filter with the same range and invalid fault", function()
      assert.is_nil(params.optional.task_id(nil))
      assert.equal(7, params.optional.task_id("7"))
      assert.equal(1012, code_of(params.optional.task_id, "0"))
      assert.equal(1013, code_of(params.optional.taskgroup_id, "2147483648"))
    end)

    it("lets closebin's and removebin's task_id be 0, an ad-hoc bin's", function()
      assert.equal(0, params.bin_task_id("0"))
      assert.is_nil(params.bin_task_id(nil))
      assert.equal(1012, code_of(params.bin_task_id, "-1"))
    end)

    it("keeps each method's faults for priority, shipment, category and content", function()
      assert.equal(1907, code_of(params.priority, nil))
      assert.equal(1908, code_of(params.priority, "0"))
      assert.is_nil(params.shipment(nil))
      assert.equal(1014, code_of(params.shipment, "0"))
      assert.equal(1905, code_of(params.category, nil))
      assert.equal(1007, code_of(params.category, "10000001"))
      assert.equal(0, params.content("0"))
      assert.equal(1006, code_of(params.content, "10000001"))
    end)
  end)
end)
