[inputs: ["{mix,.formatter,demo}.exs", "{config,lib,test}/**/*.{ex,exs}"]]
