"""The window and its parts. Widgets call the controller and listen to it; they never touch its worker threads
or the frames in flight (disk checks that may block run through ``desktop.file_check``)."""
