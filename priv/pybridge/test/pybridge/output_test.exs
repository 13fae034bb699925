defmodule PyBridge.OutputTest do
  use ExUnit.Case, async: true

  import PyBridge.TestHelpers

  @support "pybridge_test_support"
  @noise ["print", "stderr", "fd1", "fd2", "child"]

  describe "Python output (start_link/1 :output)" do
    test "every kind of output reaches the configured device, apart from replies" do
      {:ok, device} = StringIO.open("")
      pool = start_pool!(output: device)

      for i <- 1..3 do
        assert PyBridge.call("#{@support}.make_noise", ["n#{i}"], [], pool: pool) ==
                 {:ok, "n#{i} done"}
      end

      eventually(fn ->
        {_, out} = StringIO.contents(device)
        lines = String.split(out, "\n", trim: true)
        Enum.all?(1..3, fn i -> Enum.all?(@noise, &("n#{i} #{&1}" in lines)) end)
      end)
    end

    test "goes to Logger by default, one event per line" do
      pool = start_pool!()
      handler = :"pybridge_test_#{System.unique_integer([:positive])}"
      PyBridge.TestLogHandler.attach(handler, self())
      on_exit(fn -> PyBridge.TestLogHandler.detach(handler) end)
      tag = "t#{System.unique_integer([:positive])}"

      assert {:ok, _} = PyBridge.call("#{@support}.make_noise", [tag], [], pool: pool)

      for kind <- @noise do
        line = "python: #{tag} #{kind}"
        assert_receive {:log, ^line, %{pybridge_pool: ^pool, python_pid: os_pid}}, 5_000
        assert is_integer(os_pid)
      end
    end
  end
end
