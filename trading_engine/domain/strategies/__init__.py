"""The built-in strategies, one module each; ``grid`` snaps their prices and sizes onto an
instrument's tick and lot."""
