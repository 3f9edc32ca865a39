-- The rules' shared space (src/shared.c) through its Lua module: values, expiry, increments,
-- token buckets, and the bound on its memory.
local runtime = require "helpers.runtime"

local T = 1714550400 -- a clock of our own: every operation takes the time

describe("the shared space", function()
  local space
  before_each(function() space = runtime.native.new_shared_space(64 * 1024) end)

  it("keeps numbers, strings and booleans, and forgets a key set to nil", function()
    assert.is_true(space.set("n", 42, nil, T))
    assert.is_true(space.set("s", "text\0with a zero", nil, T))
    assert.is_true(space.set("b", false, nil, T))
    assert.is_true(space.set("f", 0.5, nil, T))
    assert.same({ 42, "text\0with a zero", false, 0.5 }, { space.get("n", T), space.get("s", T), space.get("b", T), space.get("f", T) })
    assert.equal("integer", math.type(space.get("n", T)))
    space.set("n", nil, nil, T)
    assert.is_nil(space.get("n", T))
  end)

  it("forgets a value once its time is up", function()
    space.set("k", "v", 10, T)
    assert.equal("v", space.get("k", T + 9.9))
    assert.is_nil(space.get("k", T + 10))
  end)

  it("adds only to a key that holds nothing", function()
    assert.is_true(space.set("k", 1, nil, T, true))
    assert.is_false(space.set("k", 2, nil, T, true))
    assert.equal(1, space.get("k", T))
    space.set("e", 1, 5, T)
    assert.is_true(space.set("e", 2, nil, T + 6, true)) -- expired: as if absent
  end)

  it("increments from an initial value, which gets the ttl, and refuses a string", function()
    assert.equal(11, space.incr("c", 1, 10, 60, T))
    assert.equal(13, space.incr("c", 2, 10, 60, T + 30))
    assert.equal(1, space.incr("c", 1, 0, 60, T + 60)) -- the first one's minute is over
    space.set("s", "x", nil, T)
    assert.same({ nil, "not a number" }, { space.incr("s", 1, 0, 0, T) })
  end)

  it("takes tokens from a bucket that starts full and refills at its rate", function()
    for i = 1, 5 do assert.is_true((space.take("b", 10, 5, 1, T))) end
    local allowed, wait = space.take("b", 10, 5, 1, T)
    assert.is_false(allowed)
    assert.near(0.1, wait, 1e-9)
    assert.is_true((space.take("b", 10, 5, 1, T + 0.1)))
    assert.is_false((space.take("b", 10, 5, 1, T + 0.1)))
    local _, left = space.take("b", 10, 5, 1, T + 100) -- full again, not more than the burst
    assert.equal(4, left)
  end)

  it("takes a key holding something else as a new, full bucket: a limit never refuses for good", function()
    space.set("b", "garbage", nil, T)
    local allowed, left = space.take("b", 10, 5, 1, T)
    assert.is_true(allowed)
    assert.equal(4, left)
    space.set("n", 7, nil, T)
    assert.is_true((space.take("n", 10, 5, 1, T)))
  end)

  it("does not refill a bucket when the clock goes back", function()
    for _ = 1, 5 do space.take("b", 10, 5, 1, T) end
    assert.is_false((space.take("b", 10, 5, 1, T - 10)))
  end)

  it("forgets a bucket once it would be full again, so idle keys take no room", function()
    space.take("idle", 1, 2, 1, T)
    assert.equal(1, space.stats().entries)
    space.set("other", 1, nil, T + 3) -- a write after the bucket's time makes room from the old end
    for i = 1, 2000 do space.set("fill" .. i, i, nil, T + 3) end
    assert.is_true((space.take("idle", 1, 2, 2, T + 3))) -- a new, full bucket
  end)

  it("stays within its capacity, dropping the least recently used entries", function()
    for i = 1, 5000 do assert.is_true(space.set("key" .. i, i, nil, T)) end
    local stats = space.stats()
    assert.is_true(stats.used <= 64 * 1024)
    assert.is_true(stats.evictions > 0)
    assert.equal(5000, space.get("key5000", T))
    assert.is_nil(space.get("key1", T))
  end)

  it("keeps an entry that is read while others come and go", function()
    space.set("hot", "yes", nil, T)
    for i = 1, 5000 do
      space.set("key" .. i, i, nil, T)
      assert.equal("yes", space.get("hot", T))
    end
  end)

  it("makes room from expired entries first at the old end, without counting them as evicted", function()
    for i = 1, 500 do space.set("short" .. i, i, 1, T) end
    for i = 1, 400 do assert.is_true(space.set("later" .. i, i, nil, T + 2)) end
    assert.equal(0, space.stats().evictions)
    for i = 1, 400 do assert.equal(i, space.get("later" .. i, T + 2)) end
  end)

  it("refuses a key over 255 bytes and a value over an eighth of the space", function()
    assert.has_error(function() space.get(("k"):rep(256), T) end)
    assert.same({ nil, "too large" }, { space.set("big", ("x"):rep(9000), nil, T) })
  end)

  it("refuses a bucket with no rate or a cost over its burst", function()
    assert.has_error(function() space.take("b", 0, 5, 1, T) end)
    assert.has_error(function() space.take("b", 1, 5, 6, T) end)
  end)
end)
