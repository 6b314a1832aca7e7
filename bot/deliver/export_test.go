package deliver

// DecodeJobWith reads raw as DecodeJob does, with another JSON library's
// unmarshal (a benchmark's baseline).
func DecodeJobWith(unmarshal func([]byte, any) error, raw []byte) error {
	var p payload
	return unmarshal(raw, &p)
}

// EncodeJobWith writes j's payload as Encode does, with another JSON
// library's marshal.
func EncodeJobWith(marshal func(any) ([]byte, error), j Job) error {
	_, err := marshal(j.wire())
	return err
}
