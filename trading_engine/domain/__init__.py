"""The pure model and the ports it owns. Imports nothing from the other layers or any framework."""
