-- The bounded library functions (src/bounded_lua.c, src/pattern_lua.c) give Lua's own results:
-- each is compared with the string and table library of the interpreter running the specs.
local runtime = require "helpers.runtime"

local bounded = runtime.native.bounded

local function pack(...) return { n = select("#", ...), ... } end

-- A failure's message without the function's name, which Lua finds only for functions in its
-- loaded libraries (the gateway installs the bounded ones there; these specs do not).
local function unnamed(result)
  if result[1] == false and type(result[2]) == "string" then result[2] = result[2]:gsub("to '[^']*'", "to 'f'") end
  return result
end

-- Calls f and g with the same arguments; both must fail alike (same message) or return the same.
local function assert_alike(name, f, g, ...)
  local expected, got = unnamed(pack(pcall(f, ...))), unnamed(pack(pcall(g, ...)))
  local args = pack(...)
  local shown = {}
  for i = 1, args.n do shown[i] = string.format("%q", tostring(args[i])) end
  assert.same(expected, got, name .. "(" .. table.concat(shown, ", ") .. ")")
end

local subjects = { "", "a", "hello world", "  x  ", "THE (quick) fox", "a.b", "aaa", "abc", "x-y", "-a-",
  "key = value", "[]]", "f(a(b)c)d", "\0a\0", "2024-01-01T00:00:00Z", "  987654\n\t", "ab%cd", "aXbXc" }
local patterns = { "", "a", "^a", "a$", "^$", ".", "%a+", "%s*(.-)%s*$", "^%s*(.-)%s*$", "(%w+)%s*=%s*(%w+)",
  "()b()", "b*", "[]]+", "[a-]+", "[%a-]+", "%f[%a]%a+", "%((%a+)%)", "%b()", "(a)%1", "(.)(.)%2%1", "[^%s]+",
  "^%d+$", "x?y", "a-b", "%.", "[%]]", "%W", "[a-c]", "$", "^", "(a*(.)%w(%s*))", "%z", "\0", "[\0]", "%x+",
  "(()a)", "%u%l", "[%w_]+", ".-$", "%S", "^.*%S" }
local malformed = { "%", "[a", "(a", "a)", "%1", "%f", "%b", "(()", "[%", ")", "%0", "[^]" }

describe("the bounded pattern functions", function()
  it("find and match like Lua, with every start position and plain finds", function()
    for _, s in ipairs(subjects) do
      for _, p in ipairs(patterns) do
        for _, init in ipairs({ 1, 2, -1, -3, 0, 100 }) do
          assert_alike("find", string.find, bounded.find, s, p, init)
          assert_alike("find plain", string.find, bounded.find, s, p, init, true)
          assert_alike("match", string.match, bounded.match, s, p, init)
        end
      end
    end
  end)

  it("gsub like Lua, with strings, tables, functions and numbers as replacements", function()
    local replacements = { "X", "%0%0", "<%1>", "%%", "%2", "%", { a = "A", b = false }, function(_, y) return y end, 7,
      function() return {} end }
    for _, s in ipairs(subjects) do
      for _, p in ipairs(patterns) do
        for _, r in ipairs(replacements) do
          assert_alike("gsub", string.gsub, bounded.gsub, s, p, r)
          assert_alike("gsub once", string.gsub, bounded.gsub, s, p, r, 1)
        end
      end
    end
  end)

  it("gmatch like Lua, from any start", function()
    local function all(gmatch, s, p, init)
      local found = {}
      for a, b in gmatch(s, p, init) do found[#found + 1] = tostring(a) .. "|" .. tostring(b) end
      return table.concat(found, ";")
    end
    for _, s in ipairs(subjects) do
      for _, p in ipairs(patterns) do
        for _, init in ipairs({ 1, 3, -2, 50 }) do
          assert_alike("gmatch", function(...) return all(string.gmatch, ...) end,
            function(...) return all(bounded.gmatch, ...) end, s, p, init)
        end
      end
    end
  end)

  it("refuses malformed patterns with Lua's messages", function()
    for _, s in ipairs({ "", "a", "(a)" }) do
      for _, p in ipairs(malformed) do
        assert_alike("find", string.find, bounded.find, s, p)
        assert_alike("gsub", string.gsub, bounded.gsub, s, p, "x")
      end
    end
    assert_alike("too complex", string.match, bounded.match, "a", string.rep("a?", 300))
    assert_alike("too many captures", string.match, bounded.match, "a", string.rep("(", 40) .. "a" .. string.rep(")", 40))
    assert_alike("bad replacement", string.gsub, bounded.gsub, "abc", "%w", true)
  end)

  it("agrees with Lua on 20,000 random patterns and subjects", function()
    local tokens = { "a", "b", ".", "%a", "%d", "%s", "%S", "[ab]", "[^a]", "[a-c]", "*", "+", "-", "?", "(", ")",
      "()", "%1", "%2", "^", "$", "%b()", "%f[%w]", "%", "[", "]", " ", "%%", "%.", "[%a_]" }
    local chars = { "a", "b", "c", " ", "(", ")", "1", "\0", "%", "." }
    local seed = 12345
    local function random(n) -- a small generator of our own, so the cases are the same on every run
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    local function text(list, most)
      local parts = {}
      for i = 1, random(most + 1) - 1 do parts[i] = list[random(#list)] end
      return table.concat(parts)
    end
    for _ = 1, 20000 do
      local s, p = text(chars, 12), text(tokens, 7)
      local which = random(3)
      if which == 1 then
        assert_alike("find", string.find, bounded.find, s, p, random(16) - 3)
      elseif which == 2 then
        assert_alike("match", string.match, bounded.match, s, p)
      else
        assert_alike("gsub", string.gsub, bounded.gsub, s, p, "<%0>")
      end
    end
  end)
end)

describe("the other bounded functions", function()
  it("repeat strings like string.rep", function()
    for _, case in ipairs({ { "ab", 3 }, { "ab", 3, "," }, { "", 5 }, { "", 5, "-" }, { "x", 0 }, { "x", -1 },
      { "xyz", 1, "sep" }, { "a", 1000, "bc" }, { "q", 70000 } }) do
      assert_alike("rep", string.rep, bounded.rep, table.unpack(case, 1, 3))
    end
    assert.has_error(function() bounded.rep("x", 2^40) end, "resulting string too large")
  end)

  it("change case and reverse like Lua, on long strings too", function()
    local long = string.rep("aB\0z\255", 30000)
    for _, f in ipairs({ "upper", "lower", "reverse" }) do
      for _, s in ipairs({ "", "Hello, World!", long }) do
        assert.equal(string[f](s), bounded[f](s), f)
      end
    end
  end)

  it("sort like table.sort, with and without an order function, and with metamethods", function()
    local function sorted(list, order)
      local copy = { table.unpack(list) }
      bounded.table.sort(copy, order)
      return copy
    end
    local numbers = {}
    for i = 1, 2000 do numbers[i] = (i * 7919) % 1009 end
    local expected = { table.unpack(numbers) }
    table.sort(expected)
    assert.same(expected, sorted(numbers))
    table.sort(expected, function(a, b) return a > b end)
    assert.same(expected, sorted(numbers, function(a, b) return a > b end))
    assert.same({}, sorted({}))
    assert.same({ 1 }, sorted({ 1 }))
    assert.same({ "a", "b", "c" }, sorted({ "c", "a", "b" }))
    local Box = {}
    Box.__lt = function(a, b) return a.v < b.v end
    local boxes = { setmetatable({ v = 3 }, Box), setmetatable({ v = 1 }, Box), setmetatable({ v = 2 }, Box) }
    bounded.table.sort(boxes)
    assert.same({ 1, 2, 3 }, { boxes[1].v, boxes[2].v, boxes[3].v })
    assert.has_error(function() bounded.table.sort({ 1, "x", 2 }) end)
    assert.has_error(function() bounded.table.sort({ 2, 1 }, 42) end)
    local _, inconsistent = pcall(bounded.table.sort, { 3, 1, 2, 5, 4 }, function() return true end)
    assert.is_nil(inconsistent) -- some order, no error: the sort cannot run out of bounds
  end)

  it("move like table.move, overlapping either way and into another table", function()
    local function list() return { 1, 2, 3, 4, 5, 6 } end
    for _, case in ipairs({ { 1, 3, 2 }, { 2, 5, 1 }, { 1, 6, 1 }, { 3, 2, 1 }, { 1, 3, 5 }, { 4, 6, 3 } }) do
      local a, b = list(), list()
      assert.same(table.move(a, case[1], case[2], case[3]), bounded.table.move(b, case[1], case[2], case[3]))
      assert.same(table.move(list(), case[1], case[2], case[3], {}), bounded.table.move(list(), case[1], case[2], case[3], {}))
    end
    assert_alike("wrap around", table.move, bounded.table.move, {}, 1, math.maxinteger, 2)
  end)

  it("insert, remove, concat and unpack like the table library's, metamethods and errors too", function()
    local function list() local t = { "a", "b", "c", "d" } return t, t end
    local function proxy() -- reads and writes through metamethods, as the library does
      local store = list()
      return setmetatable({}, {
        __index = function(_, k) return store[k] end,
        __newindex = function(_, k, v) store[k] = v end,
        __len = function() return #store end,
      }), store
    end
    -- f and g on fresh lists made alike: the same results (or failure) and the same lists after.
    local function alike(name, f, g, make, args)
      local a, a_store = make()
      local b, b_store = make()
      local shown = name .. "(" .. table.concat(args, ", ", 1, #args) .. ")"
      assert.same(unnamed(pack(pcall(f, a, table.unpack(args)))), unnamed(pack(pcall(g, b, table.unpack(args)))), shown)
      assert.same(a_store, b_store, shown)
    end
    for _, make in ipairs({ list, proxy }) do
      for _, args in ipairs({ { "x" }, { 1, "x" }, { 3, "x" }, { 5, "x" }, { 0, "x" }, { 6, "x" }, {}, { 1, 2, 3 } }) do
        alike("insert", table.insert, bounded.table.insert, make, args)
      end
      for _, args in ipairs({ {}, { 1 }, { 2 }, { 4 }, { 5 }, { 0 }, { 6 }, { -1 } }) do
        alike("remove", table.remove, bounded.table.remove, make, args)
      end
      for _, args in ipairs({ {}, { ", " }, { "-", 2 }, { "-", 2, 3 }, { "-", 3, 2 }, { "", 1, 5 }, { "", 0 } }) do
        alike("concat", table.concat, bounded.table.concat, make, args)
      end
      for _, args in ipairs({ {}, { 2 }, { 2, 3 }, { 3, 2 }, { -1, 1 }, { 1, 6 } }) do
        alike("unpack", table.unpack, bounded.table.unpack, make, args)
      end
    end
    assert_alike("remove from empty", table.remove, bounded.table.remove, {})
    assert_alike("concat of a table", table.concat, bounded.table.concat, { 1, {}, 3 })
    assert_alike("concat numbers", table.concat, bounded.table.concat, { 1, 2.5, 3 }, " ")
    assert_alike("unpack too many", table.unpack, bounded.table.unpack, {}, 1, math.maxinteger)
    assert_alike("insert into a number", table.insert, bounded.table.insert, 5, "x")
    assert_alike("concat of a string", table.concat, bounded.table.concat, "abc")
  end)

  it("format like string.format, refusing only formats and %q strings that would loop long in C", function()
    for _, case in ipairs({ { "%d-%s", 5, "x" }, { "%5.2f|%-3d|%%|%q", 1.5, 7, "a\0b\n" }, { "%q", 1 / 0 },
      { "%x %X %o %c %e %g %a %i %u", 255, 255, 8, 65, 1.5, 2.5, 1.0, 3, 4 }, { "%10q", "x" }, { "%s %s", "a" },
      { "%y", 1 }, { "%", 1 }, { "%q", {} }, { "100%%" }, { "%-+ #0d", 3 } }) do
      assert_alike("format", string.format, bounded.format, table.unpack(case))
    end
    assert.equal(string.format("%q", ("\0"):rep(1000)), bounded.format("%q", ("\0"):rep(1000)))
    assert.has_error(function() bounded.format(("%%"):rep(40000)) end)
    assert.has_error(function() bounded.format("%s %q", "x", ("x"):rep(2^20 + 1)) end)
    assert.equal(2^20 + 2, #bounded.format("%q", ("x"):rep(2^20)))
  end)

  it("pack like string.pack, refusing only formats that would loop long in C", function()
    assert.equal(string.pack("i4c5z", 7, "abc", "x"), bounded.pack("i4c5z", 7, "abc", "x"))
    assert.same({ string.unpack("i4", string.pack("i4", 9)) }, { bounded.unpack("i4", string.pack("i4", 9)) })
    assert.equal(string.packsize("i4i8"), bounded.packsize("i4i8"))
    assert.has_error(function() bounded.pack("c" .. 2^24, "") end)
    assert.has_error(function() bounded.unpack(string.rep("x", 5000), "") end)
  end)
end)
