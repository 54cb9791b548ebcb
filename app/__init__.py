"""The app's helpers that are not pages: the run registry glue, charts, pictures. Imports streamlit and plotly;
the engine (gan_core) never imports this package."""
