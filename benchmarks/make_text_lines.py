#!/usr/bin/env python3
"""Render a labeled text-line dataset (PaddleOCR recognition format); see hpi/tasks/text_recognition/textlines.py."""
import sys

from hpi.tasks.text_recognition.textlines import main

if __name__ == "__main__":
    sys.exit(main())
