package org

import "strings"

// commonPasswords is a small block list, lower case: whole passwords of 12 or
// more characters that top the public breach corpora (shorter ones fail the
// length rule anyway), and the words at their core, which CommonPassword also
// looks for once the digits and symbols around a word are stripped
// ("Welcome2024!" is "welcome"). It is deliberately small: the length rule
// does most of the work, the list catches what people type when told "12".
var commonPasswords = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, p := range strings.Fields(commonPasswordList) {
		m[p] = struct{}{}
	}
	return m
}()

const commonPasswordList = `
123456789012 1234567890123 12345678901234 123456789123 1234567891011 098765432109
111111111111 000000000000 121212121212 123123123123 112233445566 147258369147
1q2w3e4r5t6y 1qaz2wsx3edc q1w2e3r4t5y6 1q2w3e4r 1qaz2wsx zaq12wsx zaq1xsw2 qazwsx qazwsxedc
qwertyuiop qwertyuiopasdfghjkl qwertyuiop123 qwerty123456 qwertyqwerty qwerty asdfgh asdfghjkl
asdfghjkl123 zxcvbnm zxcvbnm123456 azerty azertyuiop qwertz qwertzuiop
abcdefghijkl abcdefghijklm abcdefghijklmnop abc abcdef abcdefg abcd1234abcd
password passwords password123 password1234 password12345 passwordpassword passw0rd p@ssw0rd p@ssword
pa55word pa$$word passwort motdepasse contrasena contraseña senha wachtwoord hasło salasana
letmein letmeinnow welcome welcome123 welcometo iloveyou iloveyou123 iloveyoutoo loveyou lovely
ihateyou admin administrator administrator1 root toor superuser changeme changeit default guest
login letmeinplease secret topsecret private master masterkey mypassword mysecret yourpassword
trustno trustnoone nopassword newpassword oldpassword temppassword temporary
monkey dragon football baseball basketball soccer hockey sunshine princess superman batman spiderman
starwars startrek pokemon minecraft fortnite roblox whatever computer internet freedom shadow michael
jennifer jessica jordan hunter ranger buster thomas robert charlie daniel andrew joshua matthew
ashley amanda michelle nicole tigger summer winter spring autumn fall flower cookie chocolate
liverpool chelsea arsenal manchester barcelona realmadrid juventus yankees cowboys steelers lakers
mustang ferrari porsche harley corvette mercedes
hello helloworld hellothere goodbye blessed jesus jesuschrist christ heaven angel angels
qwerty1234567 qwerty12345678 1234qwerty 1234qwer asdf1234 asdf1234asdf zxcv1234
iloveu ilovegod godisgood lovelove babygirl sweetheart sweetie honey
thequickbrownfox thequickbrownfoxjumpsoverthelazydog correcthorsebatterystaple correcthorse
loremipsum loremipsumdolor usher usherpassword usher123456 slack teams microsoft google apple
facebook linkedin twitter instagram amazon netflix
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday
`
