package teams

// Greeting is greeting, for the golden files of cards_test.go.
var Greeting = greeting
