namespace BottleneckPipeline.Runtime;

/// <summary>Process exit codes, documented in the README's exit-code table and docs/troubleshooting.md.</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int InternalFailure = 1;
    public const int BadConfig = 2;
    public const int BadInput = 3;
    public const int LockHeld = 4;
    public const int Interrupted = 130;
}

/// <summary>An error the user can act on: its message names the file, key or line and what to do.</summary>
public class PipelineException(int exitCode, string message, Exception? inner = null) : Exception(message, inner)
{
    public int ExitCode { get; } = exitCode;
}

public sealed class ConfigException(string message) : PipelineException(ExitCodes.BadConfig, message);

public sealed class InputException(string message, Exception? inner = null) : PipelineException(ExitCodes.BadInput, message, inner);

public sealed class LockHeldException(string message) : PipelineException(ExitCodes.LockHeld, message);
