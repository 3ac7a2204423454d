import sys

from host.bench.command import main

sys.exit(main())
