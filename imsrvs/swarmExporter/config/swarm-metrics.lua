-- The swarm's own view of the services of stack {{iocdock.prefix}}, as Prometheus
-- metrics: for every service, how many tasks the swarm means to run and how many
-- run (the two numbers of REPLICAS in `docker service ls`). Rendered by
-- `iocdock swarm --gen-built-in-services`; haproxy.cfg beside this file serves it.
--
-- Prometheus' own swarm discovery makes targets of tasks that have an address only,
-- so it never sees an IOC (host network): this is where an IOC that is not running
-- shows. A task whose health check has not passed yet is starting, not running, and
-- the engine ends a task whose IOC turns unhealthy, so an unhealthy IOC counts as
-- not running too.
--
-- The engine is asked through socketProxy's read-only socket on this node, a
-- manager (only managers know the services); one GET per scrape.

local STACK = "{{iocdock.prefix}}"
local ENGINE = "unix@/run/docker-api/docker.sock"
-- API 1.41 (Docker 20.10) is the first with ServiceStatus; newer engines accept it.
local SERVICES = "http://docker/v1.41/services?status=true&filters="
    .. '%7B%22label%22%3A%5B%22com.docker.stack.namespace%3D' .. STACK .. '%22%5D%7D'
local TIMEOUT_MS = 10000

-- JSON text to Lua values: objects and arrays become tables (arrays keep their
-- length in field n), null becomes the value NULL.
local NULL = setmetatable({}, { __tostring = function() return "null" end })

local function decode(text)
    local pos = 1
    local escapes = { ['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f',
        n = '\n', r = '\r', t = '\t' }

    local function fail(what)
        error(string.format("engine answer is not JSON at byte %d: %s", pos, what), 0)
    end

    local function skip()
        pos = string.find(text, "[^ \t\r\n]", pos) or (#text + 1)
    end

    local function hex4(at)
        local digits = string.sub(text, at, at + 3)
        if not string.find(digits, "^%x%x%x%x$") then fail("bad \\u escape") end
        return tonumber(digits, 16)
    end

    local function read_string()
        local parts = {}
        pos = pos + 1
        while true do
            local stop = string.find(text, '["\\]', pos)
            if not stop then fail("unterminated string") end
            parts[#parts + 1] = string.sub(text, pos, stop - 1)
            if string.sub(text, stop, stop) == '"' then
                pos = stop + 1
                return table.concat(parts)
            end
            local kind = string.sub(text, stop + 1, stop + 1)
            if kind == "u" then
                local code = hex4(stop + 2)
                pos = stop + 6
                if code >= 0xD800 and code <= 0xDBFF and string.sub(text, pos, pos + 1) == "\\u" then
                    local low = hex4(pos + 2)
                    if low >= 0xDC00 and low <= 0xDFFF then
                        code = 0x10000 + (code - 0xD800) * 0x400 + (low - 0xDC00)
                        pos = pos + 6
                    end
                end
                parts[#parts + 1] = utf8.char(code)
            else
                parts[#parts + 1] = escapes[kind] or fail("bad escape")
                pos = stop + 2
            end
        end
    end

    local read_value

    local function read_object()
        local object = {}
        pos = pos + 1
        skip()
        if string.sub(text, pos, pos) == "}" then
            pos = pos + 1
            return object
        end
        while true do
            skip()
            if string.sub(text, pos, pos) ~= '"' then fail("expected a key") end
            local key = read_string()
            skip()
            if string.sub(text, pos, pos) ~= ":" then fail("expected ':'") end
            pos = pos + 1
            object[key] = read_value()
            skip()
            local next_char = string.sub(text, pos, pos)
            pos = pos + 1
            if next_char == "}" then return object end
            if next_char ~= "," then fail("expected ',' or '}'") end
        end
    end

    local function read_array()
        local array = { n = 0 }
        pos = pos + 1
        skip()
        if string.sub(text, pos, pos) == "]" then
            pos = pos + 1
            return array
        end
        while true do
            array.n = array.n + 1
            array[array.n] = read_value()
            skip()
            local next_char = string.sub(text, pos, pos)
            pos = pos + 1
            if next_char == "]" then return array end
            if next_char ~= "," then fail("expected ',' or ']'") end
        end
    end

    local literals = { ["true"] = true, ["false"] = false, ["null"] = NULL }

    function read_value()
        skip()
        local first = string.sub(text, pos, pos)
        if first == "{" then return read_object() end
        if first == "[" then return read_array() end
        if first == '"' then return read_string() end
        for word, value in pairs(literals) do
            if string.sub(text, pos, pos + #word - 1) == word then
                pos = pos + #word
                return value
            end
        end
        local number = string.match(text, "^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
        if not number or not tonumber(number) then fail("unexpected character") end
        pos = pos + #number
        return tonumber(number)
    end

    local value = read_value()
    skip()
    if pos <= #text then fail("text after the value") end
    return value
end

-- A field of nested objects, or nil when any step is missing.
local function field(value, ...)
    for _, key in ipairs({ ... }) do
        if type(value) ~= "table" then return nil end
        value = value[key]
    end
    if value == NULL then return nil end
    return value
end

local function label_value(text)
    text = tostring(text or "")
    return (string.gsub(text, '[\\"\n]', { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function mode_of(spec)
    local mode = field(spec, "Mode") or {}
    for _, kind in ipairs({ "Replicated", "Global", "ReplicatedJob", "GlobalJob" }) do
        if mode[kind] then
            return (string.gsub(string.lower(string.sub(kind, 1, 1)) .. string.sub(kind, 2), "Job$", "-job"))
        end
    end
    return ""
end

local METRICS = {
    { "iocdock_service_desired_tasks", "DesiredTasks",
      "Tasks the swarm means to run for the service (right side of REPLICAS in docker service ls)." },
    { "iocdock_service_running_tasks", "RunningTasks",
      "Tasks of the service in state running (left side of REPLICAS); starting (health check not passed yet) is not running." },
}

local function exposition(services)
    local rows = {}
    for i = 1, services.n or #services do
        local service = services[i]
        local spec = field(service, "Spec") or {}
        local name = field(spec, "Name") or ""
        local short = name
        local prefix = STACK .. "_srv-"
        if string.sub(name, 1, #prefix) == prefix then short = string.sub(name, #prefix + 1) end
        local labels = string.format(
            'service="%s",name="%s",stack="%s",service_type="%s",mode="%s"',
            label_value(name), label_value(short),
            label_value(field(spec, "Labels", "com.docker.stack.namespace")),
            label_value(field(spec, "TaskTemplate", "ContainerSpec", "Labels", "service-type")),
            label_value(mode_of(spec)))
        rows[#rows + 1] = { labels = labels, status = field(service, "ServiceStatus") or {} }
    end
    table.sort(rows, function(a, b) return a.labels < b.labels end)
    local out = {}
    for _, metric in ipairs(METRICS) do
        local metric_name, status_field, help = metric[1], metric[2], metric[3]
        out[#out + 1] = "# HELP " .. metric_name .. " " .. help
        out[#out + 1] = "# TYPE " .. metric_name .. " gauge"
        for _, row in ipairs(rows) do
            local value = tonumber(row.status[status_field]) or 0
            out[#out + 1] = string.format("%s{%s} %d", metric_name, row.labels, value)
        end
    end
    return table.concat(out, "\n") .. "\n"
end

local function reply(applet, status, body)
    applet:set_status(status)
    applet:add_header("content-type", "text/plain; version=0.0.4; charset=utf-8")
    applet:add_header("content-length", tostring(#body))
    applet:start_response()
    applet:send(body)
end

core.register_service("swarm_metrics", "http", function(applet)
    local answer = core.httpclient():get({ url = SERVICES, dst = ENGINE, timeout = TIMEOUT_MS })
    if not answer or answer.status ~= 200 then
        local status = answer and answer.status or "no answer"
        local body = answer and answer.body or ""
        reply(applet, 502, string.format("the engine answered %s: %s\n", tostring(status), body))
        return
    end
    local ok, result = pcall(function() return exposition(decode(answer.body)) end)
    if ok then
        reply(applet, 200, result)
    else
        reply(applet, 502, tostring(result) .. "\n")
    end
end)
