"""What a file is, from its bytes: media kind, content type and the figures of its media.

Plain functions over files (puremagic for the kind, Pillow for pictures, PyAV for video and
audio), nothing of Django, so that completion, uploads and the gallery agree on one answer.
"""
