#!/usr/bin/env python3
"""Embed a text file as a C string: embed.py INPUT OUTPUT SYMBOL."""
import sys

src, dst, sym = sys.argv[1:4]
with open(src, 'rb') as f:
    data = f.read()
body = ', '.join(str(b) for b in data)
with open(dst, 'w') as f:
    f.write(f'/* generated from {src.split("/")[-1]} by embed.py */\n')
    f.write(f'static const char {sym}[] = {{ {body}, 0 }};\n')
