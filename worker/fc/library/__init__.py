"""The standard protocol libraries (BasicLibrary.txt, CardiacLibrary.txt), shipped as package data.

A package (rather than a plain folder) so that an installed wheel carries the
``.txt`` files and their LICENSE; ``folder.resolve_import`` looks here when
an imported file is not found next to the importing protocol.
"""
