-- The conformance steps: every method and fault of the task interface, as request -> exact
-- reply, in an order where each step builds on the last. Shared by the conformance spec and
-- the bridge spec (which runs them through a bridging gateway).
local gateway = require "helpers.gateway"

local OK, F = gateway.OK, gateway.fault

local function params_reply(lines)
  local out = { '<?xml version="1.0"?>', "<response>", "  <params>" }
  for _, line in ipairs(lines) do out[#out + 1] = "    " .. line end
  out[#out + 1] = "  </params>"
  out[#out + 1] = "</response>"
  return table.concat(out, "\n") .. "\n"
end

local function bin(bin_id, task_id)
  return params_reply({ "<bin_id>" .. bin_id .. "</bin_id>", "<task_id>" .. task_id .. "</task_id>" })
end

local function group(id, category, req_time, priority, tasks, extra)
  local t = {}
  for _, task in ipairs(tasks) do
    t[#t + 1] = string.format("<task><task_id>%d</task_id><bin_id>%d</bin_id></task>", task[1], task[2])
  end
  return string.format("<taskgroup_id>%d</taskgroup_id><category>%d</category><req_time>%s</req_time>"
    .. "<priority>%d</priority>%s<tasks>%s</tasks>", id, category, req_time, priority, extra or "", table.concat(t))
end

-- { description, method, params XML, expected reply }
local steps = {
  -- task groups
  { "create group 1 (category 1)", "create_taskgroup", group(1, 1, "2024-01-01T08:00:00Z", 5, { { 11, 101 }, { 12, 102 } }), OK },
  { "create group 2 (category 2, earlier)", "create_taskgroup", group(2, 2, "2024-01-01T07:00:00Z", 5, { { 21, 201 } }), OK },
  { "create group 3 (suspended)", "create_taskgroup", group(3, 1, "2023-01-01T00:00:00Z", 1, { { 31, 301 } }, "<suspended>true</suspended>"), OK },
  { "create group 4 (starts in 2037)", "create_taskgroup", group(4, 1, "2023-01-01T00:00:00Z", 1, { { 41, 401 } }, "<start_time>2037-12-31T00:00:00Z</start_time>"), OK },
  { "add_task, v2 form", "add_task", "<taskgroup_id>1</taskgroup_id><task><task_id>13</task_id><bin_id>103</bin_id></task>", OK },
  { "add_task, <tasks> wrapper", "add_task", "<taskgroup_id>1</taskgroup_id><tasks><task><task_id>14</task_id><bin_id>104</bin_id></task></tasks>", OK },
  { "add_task, several tasks", "add_task", "<taskgroup_id>2</taskgroup_id><task><task_id>22</task_id><bin_id>202</bin_id></task><task><task_id>23</task_id><bin_id>203</bin_id></task>", OK },
  { "add_task to a missing group", "add_task", "<taskgroup_id>99</taskgroup_id><task><task_id>991</task_id><bin_id>1</bin_id></task>", F(1018) },
  { "add_task, taskgroup_id missing", "add_task", "<task><task_id>991</task_id><bin_id>1</bin_id></task>", F(1904) },
  { "add_task, taskgroup_id invalid", "add_task", "<taskgroup_id>x</taskgroup_id><task><task_id>991</task_id><bin_id>1</bin_id></task>", F(1013) },
  { "add_task, no task", "add_task", "<taskgroup_id>1</taskgroup_id>", F(1909) },
  { "add_task, task_id taken", "add_task", "<taskgroup_id>1</taskgroup_id><task><task_id>21</task_id><bin_id>1</bin_id></task>", F(1903) },
  { "add_task, bin_id invalid", "add_task", "<taskgroup_id>1</taskgroup_id><task><task_id>15</task_id><bin_id>x</bin_id></task>", F(1010) },
  { "add_task, task_id missing", "add_task", "<taskgroup_id>1</taskgroup_id><task><bin_id>1</bin_id></task>", F(1040) },
  { "update_taskgroup", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><category>1</category><req_time>2023-01-01T00:00:00Z</req_time><priority>1</priority><shipment>8</shipment>", OK },
  { "update_taskgroup, missing group", "update_taskgroup", "<taskgroup_id>99</taskgroup_id><category>1</category><req_time>2023-01-01T00:00:00Z</req_time><priority>1</priority>", F(1018) },
  { "update_taskgroup, taskgroup_id missing", "update_taskgroup", "<category>1</category>", F(1904) },
  { "update_taskgroup, category missing", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><req_time>2023-01-01T00:00:00Z</req_time><priority>1</priority>", F(1905) },
  { "update_taskgroup, category invalid", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><category>0</category><req_time>2023-01-01T00:00:00Z</req_time><priority>1</priority>", F(1007) },
  { "update_taskgroup, req_time missing", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><category>1</category><priority>1</priority>", F(1906) },
  { "update_taskgroup, req_time invalid", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><category>1</category><req_time>2023-01-01T00:00:00</req_time><priority>1</priority>", F(1008) },
  { "update_taskgroup, priority missing", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><category>1</category><req_time>2023-01-01T00:00:00Z</req_time>", F(1907) },
  { "update_taskgroup, priority invalid", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><category>1</category><req_time>2023-01-01T00:00:00Z</req_time><priority>0</priority>", F(1908) },
  { "update_taskgroup, shipment invalid", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><category>1</category><req_time>2023-01-01T00:00:00Z</req_time><priority>1</priority><shipment>-2</shipment>", F(1014) },
  { "update_taskgroup, start_time invalid", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><category>1</category><req_time>2023-01-01T00:00:00Z</req_time><priority>1</priority><start_time>2040-01-01T00:00:00Z</start_time>", F(1912) },
  { "update_taskgroup, suspended invalid", "update_taskgroup", "<taskgroup_id>3</taskgroup_id><category>1</category><req_time>2023-01-01T00:00:00Z</req_time><priority>1</priority><suspended>2</suspended>", F(1913) },
  { "gettaskinfo shows the update, group 3 still suspended", "gettaskinfo", "<taskgroup_id>3</taskgroup_id>", params_reply({
    "<taskgroups>", "  <taskgroup>", "    <taskgroup_id>3</taskgroup_id>", "    <shipment>8</shipment>", "    <category>1</category>",
    "    <req_time>2023-01-01T00:00:00Z</req_time>", "    <priority>1</priority>", "    <suspended>1</suspended>",
    "    <tasks>", "      <task>", "        <task_id>31</task_id>", "        <bin_id>301</bin_id>", "        <state>open</state>",
    "      </task>", "    </tasks>", "  </taskgroup>", "</taskgroups>" }) },
  -- ports
  { "openport, port_id missing", "openport", "", F(1003) },
  { "openport, port_id 0", "openport", "<port_id>0</port_id>", F(1004) },
  { "openport, port_id 2001", "openport", "<port_id>2001</port_id>", F(1004) },
  { "openport, bad category in select", "openport", "<port_id>1</port_id><select><category>x</category></select>", F(1007) },
  { "openport, bad port_mode", "openport", "<port_id>1</port_id><port_mode>pick it</port_mode>", F(1918) },
  { "openport 1 selecting category 1", "openport", "<port_id>1</port_id><select><category>1</category></select>", OK },
  { "openport 1 again", "openport", "<port_id>1</port_id>", F(1002) },
  { "openport 2000, any category", "openport", "<port_id>2000</port_id><port_mode>pick</port_mode>", OK },
  { "getportstatus of an open port", "getportstatus", "<port_id>1</port_id>", params_reply({
    "<port_id>1</port_id>", "<status>open</status>", "<port_mode>OPEN</port_mode>", "<select>", "  <category>1</category>", "</select>" }) },
  { "getportstatus of a closed port", "getportstatus", "<port_id>7</port_id>", params_reply({ "<port_id>7</port_id>", "<status>closed</status>" }) },
  { "getportstatus, port_id missing", "getportstatus", "", F(1003) },
  { "getportstatus, port_id invalid", "getportstatus", "<port_id>abc</port_id>", F(1004) },
  { "openbin on a port that is not open", "openbin", "<port_id>7</port_id>", F(1009) },
  { "openbin, port_id missing", "openbin", "", F(1003) },
  { "openbin, task_id invalid", "openbin", "<port_id>1</port_id><task_id>x</task_id>", F(1012) },
  { "openbin, taskgroup_id invalid", "openbin", "<port_id>1</port_id><taskgroup_id>x</taskgroup_id>", F(1013) },
  { "openbin, bin_id invalid", "openbin", "<port_id>1</port_id><bin_id>4000001</bin_id>", F(1010) },
  { "openbin, task_id and taskgroup_id together", "openbin", "<port_id>1</port_id><task_id>11</task_id><taskgroup_id>1</taskgroup_id>", F(1917) },
  { "openbin: port 1 (category 1) skips suspended 3 and future 4, takes group 1", "openbin", "<port_id>1</port_id>", bin(101, 11) },
  { "second openbin before closebin", "openbin", "<port_id>1</port_id>", F(1020) },
  { "cancel_task on the open task", "cancel_task", "<task_id>11</task_id>", F(1045) },
  { "cancel_taskgroup of the selected group", "cancel_taskgroup", "<taskgroup_id>1</taskgroup_id>", F(1019) },
  { "another port asks for the selected group", "openbin", "<port_id>2000</port_id><taskgroup_id>1</taskgroup_id>", F(1019) },
  { "another port asks for a task of the selected group", "openbin", "<port_id>2000</port_id><task_id>12</task_id>", F(1019) },
  { "another port asks for a missing task", "openbin", "<port_id>2000</port_id><task_id>999</task_id>", F(1017) },
  { "another port asks for a missing group", "openbin", "<port_id>2000</port_id><taskgroup_id>999</taskgroup_id>", F(1018) },
  { "another port opens a bin that holds no task: an ad-hoc bin, task_id 0", "openbin", "<port_id>2000</port_id><bin_id>3999999</bin_id>", bin(3999999, 0) },
  { "and closes it without a task_id", "closebin", "<port_id>2000</port_id><bin_id>3999999</bin_id>", OK },
  { "port 2000 takes the earliest other group (2)", "openbin", "<port_id>2000</port_id>", bin(201, 21) },
  { "getportstatus shows the open bin", "getportstatus", "<port_id>2000</port_id>", params_reply({
    "<port_id>2000</port_id>", "<status>open</status>", "<port_mode>OPEN</port_mode>", "<select/>",
    "<bin_id>201</bin_id>", "<task_id>21</task_id>", "<taskgroup_id>2</taskgroup_id>" }) },
  { "gettaskinfo shows task 11 selected by port 1", "gettaskinfo", "<task_id>11</task_id>", params_reply({
    "<taskgroups>", "  <taskgroup>", "    <taskgroup_id>1</taskgroup_id>", "    <category>1</category>",
    "    <req_time>2024-01-01T08:00:00Z</req_time>", "    <priority>5</priority>", "    <suspended>0</suspended>",
    "    <tasks>", "      <task>", "        <task_id>11</task_id>", "        <bin_id>101</bin_id>", "        <state>selected</state>",
    "        <port_id>1</port_id>", "      </task>", "    </tasks>", "  </taskgroup>", "</taskgroups>" }) },
  { "closebin, port not open", "closebin", "<port_id>7</port_id><bin_id>101</bin_id>", F(1009) },
  { "closebin, bin_id missing", "closebin", "<port_id>1</port_id>", F(1911) },
  { "closebin, bin_id invalid", "closebin", "<port_id>1</port_id><bin_id>0</bin_id>", F(1010) },
  { "closebin, not the open bin", "closebin", "<port_id>1</port_id><bin_id>102</bin_id>", F(1011) },
  { "closebin, not the open task", "closebin", "<port_id>1</port_id><bin_id>101</bin_id><task_id>12</task_id>", F(1017) },
  { "closebin, taskcomplete invalid", "closebin", "<port_id>1</port_id><bin_id>101</bin_id><taskcomplete>maybe</taskcomplete>", F(1920) },
  { "closebin with taskcomplete=0 returns the task", "closebin", "<port_id>1</port_id><bin_id>101</bin_id><taskcomplete>0</taskcomplete>", OK },
  { "the returned task is open in its group again", "gettaskinfo", "<task_id>11</task_id>", params_reply({
    "<taskgroups>", "  <taskgroup>", "    <taskgroup_id>1</taskgroup_id>", "    <category>1</category>",
    "    <req_time>2024-01-01T08:00:00Z</req_time>", "    <priority>5</priority>", "    <suspended>0</suspended>",
    "    <tasks>", "      <task>", "        <task_id>11</task_id>", "        <bin_id>101</bin_id>", "        <state>open</state>",
    "      </task>", "    </tasks>", "  </taskgroup>", "</taskgroups>" }) },
  { "openbin by bin_id opens the bin alone (ad hoc), not the task in it", "openbin", "<port_id>1</port_id><bin_id>101</bin_id>", bin(101, 0) },
  { "closebin of the ad-hoc bin naming the task in it", "closebin", "<port_id>1</port_id><bin_id>101</bin_id><task_id>11</task_id>", F(1017) },
  { "closebin of the ad-hoc bin", "closebin", "<port_id>1</port_id><bin_id>101</bin_id>", OK },
  { "openbin by task_id 11", "openbin", "<port_id>1</port_id><task_id>11</task_id>", bin(101, 11) },
  { "closebin completing a task it does not name", "closebin", "<port_id>1</port_id><bin_id>101</bin_id>", F(1040) },
  { "closebin completes the task", "closebin", "<port_id>1</port_id><bin_id>101</bin_id><task_id>11</task_id><taskcomplete>1</taskcomplete>", OK },
  { "a completed task is gone", "cancel_task", "<task_id>11</task_id>", F(1017) },
  { "closebin with no bin open", "closebin", "<port_id>1</port_id><bin_id>101</bin_id>", F(1011) },
  { "openbin by task_id", "openbin", "<port_id>1</port_id><task_id>14</task_id>", bin(104, 14) },
  { "closeport with suspend_taskgroup invalid", "closeport", "<port_id>1</port_id><suspend_taskgroup>x</suspend_taskgroup>", F(1919) },
  { "closeport suspending the open group", "closeport", "<port_id>1</port_id><suspend_taskgroup>1</suspend_taskgroup>", OK },
  { "closeport of a closed port", "closeport", "<port_id>1</port_id>", F(1009) },
  { "closeport, port_id missing", "closeport", "", F(1003) },
  { "the task of the closed port went back and can be cancelled", "cancel_task", "<task_id>14</task_id>", OK },
  { "openport 1 again, any category", "openport", "<port_id>1</port_id>", OK },
  { "nothing eligible: 1 suspended, 2 selected by 2000, 3 suspended, 4 not started", "openbin", "<port_id>1</port_id>", F(1015) },
  { "a suspended group can still be opened by name", "openbin", "<port_id>1</port_id><taskgroup_id>3</taskgroup_id>", bin(301, 31) },
  { "closebin of group 3's only task finishes it", "closebin", "<port_id>1</port_id><bin_id>301</bin_id><task_id>31</task_id>", OK },
  { "a finished group is no longer listed", "gettaskinfo", "<taskgroup_id>3</taskgroup_id>", params_reply({ "<taskgroups/>" }) },
  { "cancel_taskgroup, missing group", "cancel_taskgroup", "<taskgroup_id>3</taskgroup_id>", F(1018) },
  { "cancel_taskgroup, taskgroup_id missing", "cancel_taskgroup", "", F(1904) },
  { "cancel_taskgroup, taskgroup_id invalid", "cancel_taskgroup", "<taskgroup_id>1.5</taskgroup_id>", F(1013) },
  { "cancel_taskgroup of group 4", "cancel_taskgroup", "<taskgroup_id>4</taskgroup_id>", OK },
  { "its tasks are gone", "cancel_task", "<task_id>41</task_id>", F(1017) },
  { "getPortStatus in another case", "getPortStatus", "<port_id>1</port_id>", params_reply({
    "<port_id>1</port_id>", "<status>open</status>", "<port_mode>OPEN</port_mode>", "<select/>" }) },
}

return steps
