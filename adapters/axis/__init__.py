"""The national document exchange axis: a simulator of it and the client a router uses."""
