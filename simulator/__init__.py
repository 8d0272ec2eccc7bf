"""A protocol-faithful ComfyUI simulator, 0.3.64 or current (no Django, no jobs imports).

It answers the HTTP routes and WebSocket frames of a real ComfyUI as recorded in
tests/fixtures/comfyui/traces, executes a handful of image nodes with Pillow, runs the
Stable Diffusion workflows on stand-ins for the models it is given (``--models``), and adds
fault and model controls under /_sim/. Start it with ``python -m simulator`` or, in tests,
``simulator.testing.running_simulator``. ``--profile current`` answers as the newest
confirmed ComfyUI release instead (simulator/profiles.py holds every difference).
"""

COMFYUI_VERSION = "0.3.64"
