import sys

from demo.run_demo import main

sys.exit(main())
