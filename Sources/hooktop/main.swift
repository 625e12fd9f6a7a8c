print("hooktop")
