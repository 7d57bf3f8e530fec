#!/usr/bin/env python3
"""Render a labeled text-line dataset (PaddleOCR recognition format); see hpi/textlines.py."""
import sys

from hpi.textlines import main

if __name__ == "__main__":
    sys.exit(main())
