defmodule Flows.MatplotlibTest do
  use ExUnit.Case, async: true

  test "a figure drawn in Python comes back as PNG bytes" do
    {:ok, figure} = Matplotlib.Figure.create(figsize: {4, 3}, dpi: 50)
    # add_subplot(*args, **kwargs): callable with no arguments at all.
    {:ok, axes} = Matplotlib.Figure.add_subplot(figure)
    {:ok, _lines} = Matplotlib.Axes.plot(axes, [[1, 2, 3], [1, 4, 9]])
    {:ok, _title} = Matplotlib.Axes.set_title(axes, "squares")
    {:ok, buffer} = Matplotlib.Buffer.create()
    {:ok, nil} = Matplotlib.Figure.savefig(figure, buffer, format: "png")
    {:ok, %PyBridge.Bytes{data: png}} = Matplotlib.Buffer.getvalue(buffer)
    assert <<137, "PNG", 13, 10, 26, 10, _::binary>> = png
    # 4 x 3 inches at 50 dpi: the IHDR chunk says 200 x 150.
    assert <<_::binary-size(16), 200::32, 150::32, _::binary>> = png
  end
end
