-- ops.lua, prepended to read.lua (apply.lua reads the same layout in place): the list of operations, sent
-- flat in ARGV as records "name, key index, argument count, arguments...",
-- so that large values (a message, an audit entry) reach Redis as plain bulk
-- strings with nothing to parse or unescape. Each op becomes {name, key, args...}.
local ops = {}
do
  local i, n = 1, #ARGV
  while i <= n do
    local last = i + 2 + tonumber(ARGV[i + 2])
    ops[#ops + 1] = {ARGV[i], KEYS[tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, last)}
    i = last + 1
  end
end
