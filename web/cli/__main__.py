import sys

from web.cli.main import main

sys.exit(main())
