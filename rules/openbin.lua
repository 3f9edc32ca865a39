-- openbin: the port opens a bin. Without a name it is the bin of the port's next task (task
-- endpoint), the front of the port's queue (bin endpoint, appendportqueue), or, for a port that
-- selects content codes, a grid bin with one of them. Named, it is that task, the first task of
-- that group or shipment (even outside the port's select), or that bin.
-- Until closebin an opened task is selected by the port (cancel_task -> 1045) and so is its
-- group (another port -> 1019). A bin named by bin_id is an ad-hoc bin, as documented ("use only
-- when requesting ad-hoc bins"): the port opens the bin alone, never a task stored in it, and
-- the reply's task_id is 0 (assumed), so no WMS task is selected or completed by a robot that
-- fetches a bin by number. The same for a bin from the port queue or by content code.

-- Opens a bin without a task at the port (1925 if it is at another port).
local function open_bin_alone(call, port_id, bin_id)
  local bin = bins.get(bin_id)
  if bin and bin.port_id and bin.port_id ~= port_id then return fault(1925) end
  ports.open_bin(port_id, { bin_id = bin_id })
  audit.record(call, { port_id = port_id, bin_id = bin_id, task_id = 0 })
  return reply.record({ "bin_id", "task_id" }, { bin_id = bin_id, task_id = 0 })
end

-- The bin a port that deals in bins opens next: its queue's front on the bin endpoint, else a
-- grid bin of a content code it selects; nil when there is none.
local function next_bin(call, port)
  local front = call.interface == "bin" and bins.queue_front(port.port_id)
  if front then return front end
  if #port.contents > 0 then return bins.with_content(port.contents) end
  return nil
end

return function(call)
  local p = call.params
  local port_id = params.port_id(p.port_id)
  local taskgroup_id = params.optional.taskgroup_id(p.taskgroup_id)
  local task_id = params.optional.task_id(p.task_id)
  local shipment = params.shipment(p.shipment)
  local bin_id = params.optional.bin_id(p.bin_id)
  local named = (taskgroup_id and 1 or 0) + (task_id and 1 or 0) + (shipment and 1 or 0) + (bin_id and 1 or 0)
  if named > 1 then return fault(1917) end
  if upstream.configured() then return upstream.forward(call, { port_id = port_id }) end

  local port = ports.get(port_id)
  if not port then return fault(1009) end
  if port.bin_id then return fault(1020) end -- a bin is open there, with a task or alone

  if bin_id then return open_bin_alone(call, port_id, bin_id) end
  local task
  if task_id then
    task = store.task(task_id)
    if not task then return fault(1017) end
  elseif taskgroup_id then
    if not store.taskgroup(taskgroup_id) then return fault(1018) end
    if store.taskgroup_port(taskgroup_id) then return fault(1019) end
    task = ports.first_task_of_group(taskgroup_id)
  elseif shipment then
    task = ports.first_task_of_shipment(shipment)
    if not task then return fault(ports.shipment_exists(shipment) and 1019 or 1015) end
  elseif call.interface == "bin" or #port.contents > 0 then
    local next = next_bin(call, port)
    if not next then return fault(1015) end
    return open_bin_alone(call, port_id, next)
  else
    task = ports.next_task(port_id, clock.now(), port.req_epoch)
    if not task then return fault(1015) end
  end
  if store.taskgroup_port(task.taskgroup_id) then return fault(1019) end

  ports.open_bin(port_id, task)
  audit.record(call, { port_id = port_id, task_id = task.task_id, bin_id = task.bin_id, taskgroup_id = task.taskgroup_id })
  return reply.record({ "bin_id", "task_id" }, { bin_id = task.bin_id, task_id = task.task_id })
end
