module github.com/usher-chat/usher

go 1.26.8

require (
	github.com/agnivade/levenshtein v1.2.2
	github.com/alicebob/miniredis/v2 v2.40.0
	github.com/kballard/go-shellquote v0.0.0-20180428030007-95032a82bc51
	github.com/redis/go-redis/v9 v9.23.0
	github.com/spf13/pflag v1.1.0
	golang.org/x/crypto v0.58.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	github.com/yuin/gopher-lua v1.1.1 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
