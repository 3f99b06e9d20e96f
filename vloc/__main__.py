from vloc.cli import app

app()
