-- Argo CD health for zeroetl.dev/RedshiftConsumer.
-- The status follows kstatus (sigs.k8s.io/cli-utils/pkg/kstatus): status.observedGeneration plus the
-- conditions Ready, Reconciling and Stalled on every object. Only Lua's base library is used, because
-- Argo CD runs argocd-cm health scripts without the string library unless useOpenLibs is set.
local hs = {}

local function find_condition(conditions, condition_type)
  if conditions == nil then
    return nil
  end
  for _, condition in ipairs(conditions) do
    if condition.type == condition_type then
      return condition
    end
  end
  return nil
end

-- The condition's message, else its reason, else the fallback.
local function describe(condition, fallback)
  if condition ~= nil then
    if condition.message ~= nil and condition.message ~= "" then
      return condition.message
    end
    if condition.reason ~= nil and condition.reason ~= "" then
      return condition.reason
    end
  end
  return fallback
end

local function is_true(condition)
  return condition ~= nil and condition.status == "True"
end

-- Ready reasons after which nothing changes until the spec or the world changes.
local terminal_reasons = {
  InvalidSpec = true,
  AccessDenied = true,
  RoleExists = true,
  RoleOwnedElsewhere = true,
  UserExists = true,
  Superuser = true,
  RoleRefused = true,
  StatementFailed = true,
}

local metadata = obj.metadata or {}
local annotations = metadata.annotations or {}
local status = obj.status or {}
local conditions = status.conditions
local ready = find_condition(conditions, "Ready")
local reconciling = find_condition(conditions, "Reconciling")
local stalled = find_condition(conditions, "Stalled")
local paused = annotations["zeroetl.dev/paused"] == "true"
local generation = metadata.generation

if metadata.deletionTimestamp ~= nil then
  if paused then
    hs.status = "Suspended"
    hs.message = "Deletion waits: the zeroetl.dev/paused annotation stops the operator"
  else
    hs.status = "Progressing"
    hs.message = "Being deleted"
    -- Ready describes the deletion only once the operator has started it; before that it is stale.
    if ready ~= nil and ready.reason == "Deleting" then
      hs.message = hs.message .. ": " .. describe(ready, "")
    end
  end
  return hs
end

if paused then
  hs.status = "Suspended"
  hs.message = "Paused by the zeroetl.dev/paused annotation: the operator does nothing for this object"
  return hs
end

-- Whether the operator has reported on the current spec: the status, and Ready itself, carry this generation.
local observed = status.observedGeneration ~= nil and conditions ~= nil and ready ~= nil
if observed and generation ~= nil then
  if status.observedGeneration < generation then
    observed = false
  elseif ready.observedGeneration ~= nil and ready.observedGeneration < generation then
    observed = false
  end
end

local failed = observed
  and (is_true(stalled) or (ready.status == "False" and terminal_reasons[ready.reason] == true))
  and not is_true(reconciling)

if not observed then
  hs.status = "Progressing"
  if status.observedGeneration == nil or ready == nil then
    hs.message = "Waiting for the operator to report status"
  else
    hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  end
  return hs
end

-- kstatus order: Reconciling=True wins over Stalled=True.
if is_true(reconciling) then
  hs.status = "Progressing"
  hs.message = describe(reconciling, describe(ready, "Reconciling"))
  return hs
end

if failed then
  hs.status = "Degraded"
  hs.message = describe(is_true(stalled) and stalled or nil, describe(ready, "Stalled"))
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready, "Ready")
  return hs
end

hs.status = "Progressing"
hs.message = describe(ready, "Waiting for Ready")
return hs
