-- sys.redact: the runtime's door to src/redact.c, for what it keeps of a rule's words.
local runtime = require "helpers.runtime"

local redact = runtime.native.sys.redact

describe("sys.redact", function()
  it("masks a URL's userinfo and query values inside any text", function()
    assert.equal("failed: http://***@erp.example/api?token=***&user=*** (after 2 tries)",
      redact("failed: http://me:pw@erp.example/api?token=abc&user=me (after 2 tries)"))
  end)

  it("returns text without a URL as it is", function()
    assert.equal("connection refused", redact("connection refused"))
    assert.equal("", redact(""))
  end)

  it("never cuts what grows most when masked: empty values and a one-letter login", function()
    local query = string.rep("=&", 5000)
    local masked = redact("http://a@h/?" .. query .. " end")
    assert.equal("http://***@h/?" .. string.rep("=***&", 5000) .. " end", masked)
  end)

  it("masks every URL of a list and of a long text", function()
    local text = string.rep("see https://u:p@x.example/?k=v, ", 2000)
    local masked = redact(text)
    assert.not_matches("u:p@", masked, 1, true)
    assert.equal(2000, select(2, masked:gsub("https://%*%*%*@x%.example/%?k=%*%*%*", "")))
  end)
end)
