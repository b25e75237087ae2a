"""Run the atlas-rag chat: ``python app.py`` (settings from ATLAS_RAG_* variables)."""

from atlas_rag.chat import main

if __name__ == "__main__":
    main()
