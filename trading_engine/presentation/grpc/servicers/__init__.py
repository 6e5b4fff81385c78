"""The servicers: parse a request message, call a use case, render the answer. No logic here."""
