# The pybridge.* Mix tasks and the :pybridge compiler, run in-process in a
# temporary folder against the real generator (`python -m elixir_gen`).
# They change the current directory, so they do not run concurrently.
defmodule Mix.Tasks.PybridgeTest do
  use ExUnit.Case, async: false

  @spec_text """
  python_module: json
  elixir_module: TaskCheck.Json
  functions:
    - python_path: json.dumps
    - python_path: json.loads
  """

  setup do
    dir = Path.join(System.tmp_dir!(), "pybridge_tasks_#{System.unique_integer([:positive])}")
    File.mkdir_p!(Path.join(dir, "specs"))
    File.write!(Path.join(dir, "specs/json.yaml"), @spec_text)
    Mix.shell(Mix.Shell.Process)
    previous = Application.get_all_env(:pybridge)

    on_exit(fn ->
      Mix.shell(Mix.Shell.IO)
      Application.delete_env(:pybridge, :specs)
      Application.put_env(:pybridge, :python, previous[:python])
      File.rm_rf!(dir)
    end)

    {:ok, dir: dir}
  end

  defp messages do
    receive do
      {:mix_shell, _kind, [text]} -> [text | messages()]
    after
      0 -> []
    end
  end

  describe "mix pybridge.gen" do
    test "writes the modules and the lock, prints what it wrote and the report", %{dir: dir} do
      File.cd!(dir, fn -> Mix.Tasks.Pybridge.Gen.run(["specs/json.yaml", "-o", "out"]) end)
      output = Enum.join(messages(), "\n")

      assert output =~ "* generated out/task_check/json.ex"
      assert output =~ "concrete positions:"
      assert File.read!(Path.join(dir, "out/task_check/json.ex")) =~ "defmodule TaskCheck.Json do"

      assert File.read!(Path.join(dir, "specs/json.lock")) =~
               "output: " <> Mix.PyBridge.sha256(Path.join(dir, "out/task_check/json.ex"))
    end

    test "a spec with problems prints them with file and line, and fails", %{dir: dir} do
      File.write!(
        Path.join(dir, "specs/json.yaml"),
        @spec_text <> "  - python_path: json.dumpz\n"
      )

      assert_raise Mix.Error, ~r/specs\/json.yaml could not be generated/, fn ->
        File.cd!(dir, fn -> Mix.Tasks.Pybridge.Gen.run(["specs/json.yaml", "-o", "out"]) end)
      end

      assert Enum.join(messages(), "\n") =~
               "specs/json.yaml:6: python_path: json.dumpz was not found"
    end

    test "checks its arguments" do
      assert_raise Mix.Error, ~r/expected one spec/, fn -> Mix.Tasks.Pybridge.Gen.run([]) end

      assert_raise Mix.Error, ~r/no spec at nowhere.yaml/, fn ->
        Mix.Tasks.Pybridge.Gen.run(["nowhere.yaml"])
      end

      assert_raise OptionParser.ParseError, fn ->
        Mix.Tasks.Pybridge.Gen.run(["x.yaml", "--bogus"])
      end
    end
  end

  describe "mix pybridge.check" do
    test "passes after a generation, fails when a generated file was edited", %{dir: dir} do
      File.cd!(dir, fn ->
        Mix.Tasks.Pybridge.Gen.run(["specs/json.yaml", "-o", "out"])
        _ = messages()
        Mix.Tasks.Pybridge.Check.run(["specs/json.yaml"])
        assert Enum.join(messages(), "\n") =~ "specs/json.yaml: no drift"

        File.write!("out/task_check/json.ex", "# edited\n", [:append])

        assert_raise Mix.Error, ~r/differs from what is installed/, fn ->
          Mix.Tasks.Pybridge.Check.run(["specs/json.yaml"])
        end

        assert Enum.join(messages(), "\n") =~
                 "[lock] generated file ../out/task_check/json.ex was edited since it was generated"
      end)
    end
  end

  describe "mix pybridge.discover and mix pybridge.report" do
    test "write a spec that generates, and report on it", %{dir: dir} do
      File.cd!(dir, fn ->
        Mix.Tasks.Pybridge.Discover.run(["json", "--depth", "0", "-o", "specs/found.yaml"])
        assert Enum.join(messages(), "\n") =~ "* generated specs/found.yaml"
        assert File.read!("specs/found.yaml") =~ "python_path: json.dumps"

        Mix.Tasks.Pybridge.Report.run(["specs/found.yaml"])
        report = Enum.join(messages(), "\n")
        assert report =~ "private members: 0, boilerplate docs: 0"
      end)
    end
  end

  describe "the :pybridge compiler" do
    test "generates a listed spec, then needs no Python while it is current", %{dir: dir} do
      Application.put_env(:pybridge, :specs, [{"specs/json.yaml", output: "lib/gen"}])

      File.cd!(dir, fn ->
        assert {:ok, []} = Mix.Tasks.Compile.Pybridge.run([])
        assert File.exists?("lib/gen/task_check/json.ex")
        assert Mix.Tasks.Compile.Pybridge.current?("specs/json.yaml", ["lib/gen"])
        refute Mix.Tasks.Compile.Pybridge.current?("specs/json.yaml", ["elsewhere"])

        Application.put_env(:pybridge, :python, "/nonexistent/python")
        assert {:noop, []} = Mix.Tasks.Compile.Pybridge.run([])

        # A changed spec needs the generator again: without a Python, that is an error.
        File.write!("specs/json.yaml", @spec_text <> "  - python_path: json.dump\n")
        refute Mix.Tasks.Compile.Pybridge.current?("specs/json.yaml", ["lib/gen"])

        assert_raise Mix.Error, ~r/cannot start Python at \/nonexistent\/python/, fn ->
          Mix.Tasks.Compile.Pybridge.run([])
        end
      end)
    end

    test "reports spec problems as diagnostics", %{dir: dir} do
      Application.put_env(:pybridge, :specs, ["specs/json.yaml", "specs/missing.yaml"])

      File.write!(
        Path.join(dir, "specs/json.yaml"),
        "python_module: json\nfunctions:\n  - python_path: json.nope\n"
      )

      File.cd!(dir, fn ->
        assert {:error, diagnostics} = Mix.Tasks.Compile.Pybridge.run([])

        assert [
                 %Mix.Task.Compiler.Diagnostic{
                   position: 3,
                   message: "python_path: json.nope" <> _
                 },
                 %Mix.Task.Compiler.Diagnostic{
                   position: 0,
                   message: "no spec at specs/missing.yaml" <> _
                 }
               ] = Enum.sort_by(diagnostics, & &1.position, :desc)
      end)
    end
  end
end
