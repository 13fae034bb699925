defmodule PyBridge.OrphanTest do
  use ExUnit.Case, async: true

  import PyBridge.TestHelpers

  @script Path.expand("../support/orphan_vm.exs", __DIR__)
  @python_path Path.expand("../support/python", __DIR__)

  describe "start_link/1 (worker lifetime)" do
    @tag :slow
    test "no Python process outlives a BEAM killed with kill -9" do
      elixir = System.find_executable("elixir")
      ebin = :pybridge |> :code.lib_dir() |> Path.join("ebin")

      port =
        Port.open({:spawn_executable, elixir}, [
          :binary,
          :exit_status,
          :stderr_to_stdout,
          {:line, 1024},
          args: ["-pa", ebin, @script, @python_path]
        ])

      [beam, worker, child] = read_vm_pids(port)
      on_exit(fn -> for pid <- [beam, worker, child], os_alive?(pid), do: kill9(pid) end)

      assert os_alive?(worker) and os_alive?(child)
      kill9(beam)
      eventually(fn -> not os_alive?(worker) and not os_alive?(child) end, 10_000, 10)
    end
  end
end
