from .cli import main

# Guarded: worker processes started by a fork server or spawn import this module again under another name.
if __name__ == "__main__":
    main()
