namespace Demo.Caller;

public interface ICallerOutput
{
    void WriteLine(string line);
}

/// <summary>Writes to stdout directly (not through the logger) so that each line is exactly the demo's format.</summary>
public sealed class ConsoleCallerOutput : ICallerOutput
{
    private readonly TextWriter _out = TextWriter.Synchronized(Console.Out);

    public void WriteLine(string line)
    {
        _out.WriteLine(line);
        _out.Flush();
    }
}
