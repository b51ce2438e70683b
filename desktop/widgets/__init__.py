"""The window and its parts. Widgets call the controller and listen to it; they never touch threads."""
