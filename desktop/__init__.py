"""LiveDet desktop app: camera, file or stream in; boxes, labels and FPS out.

Layers, so no module has two jobs::

    __main__    command line, QApplication, start-up splash, headless exit/screenshot
    options     what the command line asked for (imports nothing slow)
    startup     picks the first source and model, builds the window
    controller  wires workers together on the GUI thread (no widgets)
    capture / inference / recording / model_loader   worker threads
    mailbox     one-slot "latest frame wins" hand-over between threads
    overlay     pure function: frame + detections -> annotated frame
    widgets/    the window and its parts; they only talk to the controller

Models are reached only through ``detector``'s public API.
"""

__version__ = "0.1.0"
