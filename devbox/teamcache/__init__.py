"""The team layer cache: layers looked up and downloaded by their portable key before a
build, and uploaded after one (`build --push-cache`)."""
