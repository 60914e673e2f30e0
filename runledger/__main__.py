from runledger.cli import main

raise SystemExit(main())
