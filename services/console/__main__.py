from services.console.serve import main

main()
