"""Using a trained model: predict (printed, or streamed to a results file, in one process or on
Ray Data), evaluate on an image folder, class activation maps, export."""
