-- KEYS[1] the directory's tags hash; ARGV[1] tag, ARGV[2] organization id.
-- Sets the tag if no organization has it and returns its owner.
redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
return redis.call('HGET', KEYS[1], ARGV[1])
