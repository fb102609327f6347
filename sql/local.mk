# sql: rules appended by the issues that fill this folder
