-- cancel_task, create_taskgroup and gettaskinfo over real HTTP: exact reply documents.
local gateway = require "helpers.gateway"

describe("task methods over HTTP", function()
  local gw
  setup(function() gw = gateway.start() end)
  teardown(function() gw:stop() end)

  it("creates a task group and cancels its task with the documented empty reply", function()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(1, { { 123004, 5 } })))
    assert.equal(gateway.OK, gw:call("cancel_task", "<task_id>123004</task_id>"))
  end)

  it("answers 1017 for a task that does not exist or was already cancelled", function()
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>123004</task_id>"))
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>55</task_id>"))
  end)

  it("answers 1040 when task_id is missing, also without <params>", function()
    assert.equal(gateway.fault(1040), gw:call("cancel_task", ""))
    local _, _, body = gw:post("<methodcall><name>cancel_task</name></methodcall>")
    assert.equal(gateway.fault(1040), body)
  end)

  for _, bad in ipairs({ "", " ", "abc", "+1", "-1", "1.0", "0", "2147483648", "12345678901234567890", "0x1F", "1 1" }) do
    it("answers 1012 for task_id '" .. bad .. "'", function()
      assert.equal(gateway.fault(1012), gw:call("cancel_task", "<task_id>" .. bad .. "</task_id>"))
    end)
  end

  it("answers 1012 for a duplicated task_id", function()
    assert.equal(gateway.fault(1012), gw:call("cancel_task", "<task_id>1</task_id><task_id>2</task_id>"))
  end)

  it("answers a v1 client on the v1 path with wrapped parameters and a v1 time", function()
    local body = "<methodcall><name>create_taskgroup</name><params><parameters><taskgroup_id>70</taskgroup_id>" ..
      "<category>1</category><req_time>2024-05-01T08:00:00.250Z</req_time><priority>1</priority>" ..
      "<tasks><task><task_id>700</task_id><bin_id>1</bin_id></task></tasks></parameters></params></methodcall>"
    local status, _, reply = gw:raw(gateway.post_request(body, nil, gateway.V1_PATH))
    assert.equal(200, status)
    assert.equal(gateway.OK, reply)
    assert.matches("<req_time>2024%-05%-01T08:00:00Z</req_time>", gw:call("gettaskinfo", "<taskgroup_id>70</taskgroup_id>"))
    local v1_cancel = "<methodcall><name>cancel_task</name><params><cancel_task><task_id>700</task_id></cancel_task></params></methodcall>"
    assert.equal(gateway.OK, select(3, gw:raw(gateway.post_request(v1_cancel, nil, gateway.V1_PATH))))
  end)

  it("does not unwrap v1 wrappers on the v2 path", function()
    assert.equal(gateway.fault(1040), gw:call("cancel_task", "<cancel_task><task_id>1</task_id></cancel_task>"))
  end)

  it("matches method names case-insensitively", function()
    assert.equal(gateway.fault(1017), gw:call("Cancel_Task", "<task_id>77</task_id>"))
  end)

  it("answers 1901 for an unknown method and 1900 for an empty name", function()
    assert.equal(gateway.fault(1901), gw:call("no_such_method"))
    assert.equal(gateway.fault(1900), gw:call(""))
  end)

  it("answers 1900 for malformed XML, a wrong root and a missing name", function()
    assert.equal(gateway.fault(1900), select(3, gw:post("<methodcall><name>cancel_task</name>")))
    assert.equal(gateway.fault(1900), select(3, gw:post("<call><name>cancel_task</name></call>")))
    assert.equal(gateway.fault(1900), select(3, gw:post("<methodcall><params/></methodcall>")))
    assert.equal(gateway.fault(1900), select(3, gw:post("")))
  end)

  it("accepts the declaration with encoding and standalone, and ISO-8859-1", function()
    assert.equal(gateway.OK, gw:call("create_taskgroup", gateway.taskgroup_params(2, { { 200, 5 } })))
    local _, _, body = gw:post('<?xml version="1.0" encoding="ISO-8859-1" standalone="yes"?>\n<methodcall><name>cancel_task</name><params><task_id>200</task_id></params></methodcall>')
    assert.equal(gateway.OK, body)
  end)

  it("refuses a DOCTYPE with an internal entity (1900) and keeps serving", function()
    local _, _, body = gw:post('<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "cancel_task">]><methodcall><name>&a;</name></methodcall>')
    assert.equal(gateway.fault(1900), body)
    assert.equal(gateway.fault(1017), gw:call("cancel_task", "<task_id>1</task_id>"))
  end)

  it("refuses an external entity reading a file (1900)", function()
    local _, _, body = gw:post('<?xml version="1.0"?><!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><methodcall><name>cancel_task</name><params><task_id>&x;</task_id></params></methodcall>')
    assert.equal(gateway.fault(1900), body)
  end)

  it("refuses a billion-laughs document (1900) quickly", function()
    local doc = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol">' ..
      '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>' ..
      "<methodcall><name>&c;</name></methodcall>"
    assert.equal(gateway.fault(1900), select(3, gw:post(doc)))
  end)

  describe("create_taskgroup", function()
    local function create(id, extra, task_xml)
      return gw:call("create_taskgroup", string.format(
        "<taskgroup_id>%s</taskgroup_id><category>1</category><req_time>2024-05-01T08:00:00Z</req_time><priority>1</priority>%s<tasks>%s</tasks>",
        id, extra or "", task_xml or "<task><task_id>9" .. id .. "</task_id><bin_id>1</bin_id></task>"))
    end

    it("answers 1902 for a taskgroup_id that exists", function()
      assert.equal(gateway.OK, create("30"))
      assert.equal(gateway.fault(1902), create("30", nil, "<task><task_id>31</task_id><bin_id>1</bin_id></task>"))
    end)

    it("answers 1903 for a task_id that exists in another group", function()
      assert.equal(gateway.fault(1903), create("32", nil, "<task><task_id>930</task_id><bin_id>1</bin_id></task>"))
    end)

    it("answers 1013, 1014, 1007, 1008, 1908, 1912, 1913, 1010 for invalid fields", function()
      assert.equal(gateway.fault(1013), create("abc"))
      assert.equal(gateway.fault(1014), create("33", "<shipment>x</shipment>"))
      assert.equal(gateway.fault(1912), create("33", "<start_time>2024-05-01</start_time>"))
      assert.equal(gateway.fault(1913), create("33", "<suspended>yes</suspended>"))
      assert.equal(gateway.fault(1010), create("33", nil, "<task><task_id>933</task_id><bin_id>0</bin_id></task>"))
      local body = gw:call("create_taskgroup", "<taskgroup_id>33</taskgroup_id><category>0</category><req_time>2024-05-01T08:00:00Z</req_time><priority>1</priority><tasks><task><task_id>1</task_id><bin_id>1</bin_id></task></tasks>")
      assert.equal(gateway.fault(1007), body)
      body = gw:call("create_taskgroup", "<taskgroup_id>33</taskgroup_id><category>1</category><req_time>2038-02-01T00:00:00Z</req_time><priority>1</priority><tasks><task><task_id>1</task_id><bin_id>1</bin_id></task></tasks>")
      assert.equal(gateway.fault(1008), body)
      body = gw:call("create_taskgroup", "<taskgroup_id>33</taskgroup_id><category>1</category><req_time>2024-05-01T08:00:00Z</req_time><priority>x</priority><tasks><task><task_id>1</task_id><bin_id>1</bin_id></task></tasks>")
      assert.equal(gateway.fault(1908), body)
    end)

    it("answers 1904-1907, 1909, 1911 and 1040 for missing fields", function()
      assert.equal(gateway.fault(1904), gw:call("create_taskgroup", "<category>1</category>"))
      assert.equal(gateway.fault(1905), gw:call("create_taskgroup", "<taskgroup_id>34</taskgroup_id>"))
      assert.equal(gateway.fault(1906), gw:call("create_taskgroup", "<taskgroup_id>34</taskgroup_id><category>1</category>"))
      assert.equal(gateway.fault(1907), gw:call("create_taskgroup", "<taskgroup_id>34</taskgroup_id><category>1</category><req_time>2024-05-01T08:00:00Z</req_time>"))
      assert.equal(gateway.fault(1909), gw:call("create_taskgroup", "<taskgroup_id>34</taskgroup_id><category>1</category><req_time>2024-05-01T08:00:00Z</req_time><priority>1</priority>"))
      assert.equal(gateway.fault(1910), create("34", nil, "text"))
      assert.equal(gateway.fault(1911), create("34", nil, "<task><task_id>934</task_id></task>"))
      assert.equal(gateway.fault(1040), create("34", nil, "<task><bin_id>1</bin_id></task>"))
    end)
  end)

  describe("gettaskinfo", function()
    it("lists groups and tasks in the documented element names", function()
      assert.equal(gateway.OK, gw:call("create_taskgroup",
        "<taskgroup_id>40</taskgroup_id><shipment>4</shipment><category>7</category><req_time>2024-05-01T08:00:00Z</req_time>" ..
        "<priority>2</priority><start_time>2024-05-01T07:00:00Z</start_time><suspended>1</suspended>" ..
        "<tasks><task><task_id>400</task_id><bin_id>11</bin_id><item>a&lt;b</item><order>o1</order><estpicktime>12</estpicktime></task></tasks>"))
      local expected = table.concat({
        '<?xml version="1.0"?>', "<response>", "  <params>", "    <taskgroups>", "      <taskgroup>",
        "        <taskgroup_id>40</taskgroup_id>", "        <shipment>4</shipment>", "        <category>7</category>",
        "        <req_time>2024-05-01T08:00:00Z</req_time>", "        <priority>2</priority>",
        "        <start_time>2024-05-01T07:00:00Z</start_time>", "        <suspended>1</suspended>",
        "        <tasks>", "          <task>", "            <task_id>400</task_id>", "            <bin_id>11</bin_id>",
        "            <item>a&lt;b</item>", "            <order>o1</order>", "            <estpicktime>12</estpicktime>",
        "            <state>open</state>", "          </task>", "        </tasks>", "      </taskgroup>",
        "    </taskgroups>", "  </params>", "</response>", "" }, "\n")
      assert.equal(expected, gw:call("gettaskinfo", "<taskgroup_id>40</taskgroup_id>"))
    end)

    it("answers an empty <taskgroups/> when nothing matches", function()
      assert.equal('<?xml version="1.0"?>\n<response>\n  <params>\n    <taskgroups/>\n  </params>\n</response>\n',
        gw:call("gettaskinfo", "<taskgroup_id>999</taskgroup_id>"))
    end)

    it("answers 1917 for task_id with taskgroup_id, and the parameter's fault for bad filters", function()
      assert.equal(gateway.fault(1917), gw:call("gettaskinfo", "<task_id>1</task_id><taskgroup_id>1</taskgroup_id>"))
      assert.equal(gateway.fault(1013), gw:call("gettaskinfo", "<min_taskgroup_id>x</min_taskgroup_id>"))
      assert.equal(gateway.fault(1012), gw:call("gettaskinfo", "<task_id>-4</task_id>"))
      assert.equal(gateway.fault(1007), gw:call("gettaskinfo", "<category>0</category>"))
      assert.equal(gateway.fault(1913), gw:call("gettaskinfo", "<suspended>2</suspended>"))
      assert.equal(gateway.fault(1014), gw:call("gettaskinfo", "<shipment>s</shipment>"))
    end)
  end)
end)
